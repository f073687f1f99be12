"""Exports never write over the store, never replace a file without consent, never follow an
unnamed link, and write atomically (writer.store.export, `writer drafts export -o`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_writer
from writer.config import Config
from writer.errors import WriterError
from writer.store import DraftStore
from writer.store.export import ExportExistsError, check_target, write_export

TEXT = "The lighthouse keeper counted three thousand waves. " * 20


def _one_line_error(result, code: int = 1) -> str:
    assert result.returncode == code, result
    assert result.stderr.startswith("writer: error: ") and result.stderr.count("\n") == 1
    return result.stderr


def _seed(env: dict[str, str]) -> tuple[Path, int]:
    path = Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db"
    with DraftStore.open(path, config=Config()) as store:
        draft = store.create_draft("Keeper", TEXT)
        store.acquire_lock(draft.id)
        store.release_lock(draft.id)
    return path, draft.id


def test_export_never_writes_over_the_store_or_its_files(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    db, draft_id = _seed(env)
    data = db.parent
    (data / "writer.db.corrupt-20260101-000000").write_bytes(b"kept")
    link = tmp_path / "innocent.md"
    link.symlink_to(db)
    folder_link = tmp_path / "data-link"
    folder_link.symlink_to(data)
    before = db.read_bytes()
    targets = [
        db,
        Path(f"{db}-wal"),
        Path(f"{db}-shm"),
        data / "locks" / f"draft-{draft_id}.lock",
        data / "writer.db.corrupt-20260101-000000",
        data / "story.md",
        folder_link / "writer.db",
        link,
    ]
    for target in targets:
        for extra in ((), ("--force",)):
            result = run_writer(
                "drafts", "export", str(draft_id), "-o", str(target), *extra, env=env
            )
            message = _one_line_error(result)
            assert "export somewhere else" in message, message
    assert db.read_bytes() == before and link.is_symlink()
    assert (data / "writer.db.corrupt-20260101-000000").read_bytes() == b"kept"
    assert not (data / "story.md").exists()
    listing = run_writer("drafts", "list", env=env)
    assert listing.returncode == 0 and listing.stderr == "" and "Keeper" in listing.stdout


def test_overwriting_needs_force_and_missing_folder_is_one_line(isolated_user_dirs, tmp_path):
    env = isolated_user_dirs
    _, draft_id = _seed(env)
    out = tmp_path / "story.md"
    out.write_text("my only copy of something else", encoding="utf-8")
    refused = _one_line_error(
        run_writer("drafts", "export", str(draft_id), "-o", str(out), env=env)
    )
    assert "exists; add --force" in refused
    assert out.read_text(encoding="utf-8") == "my only copy of something else"
    out.chmod(0o640)
    forced = run_writer("drafts", "export", str(draft_id), "-o", str(out), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert out.read_text(encoding="utf-8") == f"# Keeper\n\n{TEXT}\n"
    assert out.stat().st_mode & 0o777 == 0o640  # kept, as the file's owner set it
    missing = run_writer(
        "drafts", "export", str(draft_id), "-o", str(tmp_path / "no" / "x.md"), env=env
    )
    message = _one_line_error(missing)
    assert "does not exist" in message and "Errno" not in message
    assert "a folder" in _one_line_error(
        run_writer("drafts", "export", str(draft_id), "-o", str(tmp_path), env=env)
    )
    slash = run_writer("drafts", "export", str(draft_id), "-o", f"{tmp_path}/new.md/", env=env)
    assert "does not exist" in _one_line_error(slash) and not (tmp_path / "new.md").exists()
    under_file = run_writer("drafts", "export", str(draft_id), "-o", f"{out}/x.md", env=env)
    assert "is a file, not a folder" in _one_line_error(under_file)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in _one_line_error(
        run_writer("drafts", "export", str(draft_id), "-o", str(fifo), "--force", env=env)
    )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_huge_ids_are_specific_usage_errors(isolated_user_dirs) -> None:
    env = isolated_user_dirs
    _, draft_id = _seed(env)
    huge = "99999999999999999999999"
    assert "too large to be an ID" in _one_line_error(
        run_writer("drafts", "show", huge, env=env), 2
    )
    result = run_writer("drafts", "export", str(draft_id), "--revision", huge, env=env)
    assert "too large to be an ID" in _one_line_error(result, 2)
    with DraftStore.open() as store:
        with pytest.raises(WriterError, match="no draft with ID"):
            store.get_draft(int(huge))
        with pytest.raises(WriterError, match="no revision with ID"):
            store.get_revision(int(huge))


def test_a_link_at_the_destination_is_replaced_not_followed_unless_named(tmp_path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    link = tmp_path / "Story.md"
    link.symlink_to(victim)
    target = check_target(link)
    assert target.exists and target.link_target == victim and target.path == link
    with pytest.raises(ExportExistsError):
        write_export(target, "export")
    write_export(target, "export", overwrite=True)
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "export"
    link.unlink()
    link.symlink_to(victim)
    followed = check_target(link, follow_links=True)
    assert followed.path == victim
    with pytest.raises(ExportExistsError, match=f"is a link to {victim}, which exists"):
        write_export(followed, "named")
    write_export(followed, "named", overwrite=True)
    assert link.is_symlink() and victim.read_text(encoding="utf-8") == "named"


def test_a_file_that_appears_meanwhile_is_not_clobbered(tmp_path) -> None:
    out = tmp_path / "new.md"
    target = check_target(out)
    out.write_text("appeared", encoding="utf-8")  # between the check and the write
    with pytest.raises(ExportExistsError):
        write_export(target, "export")
    assert out.read_text(encoding="utf-8") == "appeared"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
