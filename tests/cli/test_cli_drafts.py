"""`writer drafts ...` in a subprocess, as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_writer
from writer.config import Config
from writer.store import DraftStore


def _one_line_error(result, code: int = 1) -> str:
    assert result.returncode == code, result
    assert result.stderr.startswith("writer: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    return result.stderr


def _seed(env: dict[str, str]) -> tuple[int, int]:
    """Two drafts written through the store, the second edited last."""
    path = Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db"
    clock = iter(range(1_700_000_000, 1_800_000_000, 100))
    with DraftStore.open(path, config=Config(), clock=lambda: float(next(clock))) as store:
        old = store.create_draft("The fox", "Once upon a time there was a fox.")
        new = store.create_draft("Sea story", "The ship sailed north.")
        store.save_text(new.id, "The ship sailed north for three days.")
        store.save_text(old.id, "Once upon a time there was a small fox.")
        store.save_text(new.id, "The ship sailed north for three days. Land!")
    return old.id, new.id


def test_list_show_export_history_and_restore(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    old, new = _seed(env)
    listing = run_writer("drafts", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [str(new), str(old)]
    assert "Sea story" in lines[0] and "8 words" in lines[0]

    shown = run_writer("drafts", "show", str(old), env=env)
    assert "The fox" in shown.stdout and "there was a small fox." in shown.stdout

    exported = run_writer("drafts", "export", str(new), env=env)
    assert exported.stdout == "# Sea story\n\nThe ship sailed north for three days. Land!\n"
    txt = run_writer("drafts", "export", str(new), "--format", "txt", env=env)
    assert txt.stdout == "The ship sailed north for three days. Land!\n"
    out = tmp_path / "sea.txt"
    to_file = run_writer("drafts", "export", str(new), "-o", str(out), env=env)
    assert to_file.returncode == 0 and to_file.stdout == ""
    assert out.read_text(encoding="utf-8") == "The ship sailed north for three days. Land!\n"

    history = run_writer("drafts", "history", str(new), env=env)
    rows = history.stdout.splitlines()
    assert rows and all(row.split()[0].isdigit() for row in rows)
    first = rows[-1].split()[0]
    assert "create" in rows[-1]
    restored = run_writer("drafts", "restore", str(new), first, env=env)
    assert restored.returncode == 0, restored.stderr
    again = run_writer("drafts", "export", str(new), "--format", "txt", env=env)
    assert again.stdout == "The ship sailed north.\n"
    assert "restore" in run_writer("drafts", "history", str(new), env=env).stdout.splitlines()[0]


def test_import_then_delete(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    story = tmp_path / "lighthouse.md"
    story.write_text("# The Keeper\n\nShe opened the door.\n", encoding="utf-8")
    imported = run_writer("drafts", "import", str(story), env=env)
    assert imported.returncode == 0, imported.stderr
    draft_id = imported.stdout.split()[0]
    assert "The Keeper" in imported.stdout
    exported = run_writer("drafts", "export", draft_id, env=env)
    assert exported.stdout == story.read_text(encoding="utf-8")
    deleted = run_writer("drafts", "delete", draft_id, env=env)
    assert deleted.returncode == 0 and "The Keeper" in deleted.stdout
    assert run_writer("drafts", "list", env=env).stdout == ""


def test_bad_ids_and_files_are_one_line_errors(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    assert "no draft with ID 42" in _one_line_error(run_writer("drafts", "show", "42", env=env))
    assert "no draft with ID 42" in _one_line_error(run_writer("drafts", "export", "42", env=env))
    assert "no draft with ID 42" in _one_line_error(run_writer("drafts", "history", "42", env=env))
    assert "not an ID" in _one_line_error(run_writer("drafts", "delete", "fox", env=env), 2)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    assert "not UTF-8" in _one_line_error(run_writer("drafts", "import", str(latin), env=env))
    missing = _one_line_error(run_writer("drafts", "import", str(tmp_path / "nope.md"), env=env))
    assert "no such file" in missing
    assert "folder" in _one_line_error(run_writer("drafts", "import", str(tmp_path), env=env))
    assert "action" in _one_line_error(run_writer("drafts", env=env), 2)


def test_garbage_database_is_kept_and_import_works_on_a_fresh_store(isolated_user_dirs, tmp_path):
    """The issue's acceptance check: garbage kept byte for byte, user told, import works."""
    env = isolated_user_dirs
    data = Path(env["XDG_DATA_HOME"]) / "writer"
    data.mkdir(parents=True)
    garbage = bytes(range(256)) * 64
    (data / "writer.db").write_bytes(garbage)
    story = tmp_path / "fox.txt"
    story.write_text("The fox ran.", encoding="utf-8")
    result = run_writer("drafts", "import", str(story), env=env)
    assert result.returncode == 0, result.stderr
    warning = result.stderr.strip()
    assert warning.startswith("writer: warning:") and "\n" not in warning
    kept = [p for p in data.iterdir() if p.name.startswith("writer.db.corrupt-")]
    assert len(kept) == 1 and str(kept[0]) in warning
    assert kept[0].read_bytes() == garbage
    listing = run_writer("drafts", "list", env=env)
    assert listing.stderr == "" and "fox" in listing.stdout


def test_data_folder_that_is_a_file_is_a_one_line_error(isolated_user_dirs) -> None:
    env = isolated_user_dirs
    Path(env["XDG_DATA_HOME"], "writer").write_text("in the way")
    assert "cannot create the data folder" in _one_line_error(run_writer("drafts", "list", env=env))


def test_delete_refuses_a_draft_open_elsewhere(isolated_user_dirs) -> None:
    env = isolated_user_dirs
    old, _ = _seed(env)
    with DraftStore.open(Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db") as store:
        assert store.acquire_lock(old)
        error = _one_line_error(run_writer("drafts", "delete", str(old), env=env))
        assert "open in another writer" in error
    assert run_writer("drafts", "delete", str(old), env=env).returncode == 0


def test_restore_of_a_file_backed_draft_writes_the_file(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    story = tmp_path / "story.md"
    story.write_text("second version", encoding="utf-8")
    with DraftStore.open() as store:
        draft = store.create_draft("story.md", "first version", external_path=story)
        store.save_revision(draft.id, "second version", "external-save")
        first = next(r.id for r in store.history(draft.id) if r.preview == "first version")

    restored = run_writer("drafts", "restore", str(draft.id), str(first), env=env)
    assert restored.returncode == 0, restored.stderr
    assert story.read_text(encoding="utf-8") == "first version"

    # Edited outside writer since: the file is not overwritten, and the user is told so.
    story.write_text("edited in vim", encoding="utf-8")
    again = run_writer("drafts", "restore", str(draft.id), str(first), env=env)
    assert again.returncode == 1
    assert again.stderr.startswith("writer: warning: ") and again.stderr.count("\n") == 1
    assert "changed outside writer" in again.stderr
    assert story.read_text(encoding="utf-8") == "edited in vim"
