"""`-o FILE` of every command follows one set of rules (writer.commands.output): never a file the
drafts store owns (by inode too), never the command's own input, an existing file only with
--force, and an atomic write."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.test_cli_hostile import one_line
from tests.conftest import call_writer, run_writer


def _model(tiny_model_dir: Path) -> list[str]:
    return ["--model", str(tiny_model_dir), "--max-new-tokens", "2", "-n", "1"]


def test_generate_never_overwrites_its_prompt_file(tmp_path, tiny_model_dir, isolated_user_dirs):
    story = tmp_path / "story.md"
    story.write_text("The story so far.", encoding="utf-8")
    twin = tmp_path / "twin.md"
    os.link(story, twin)
    model = _model(tiny_model_dir)
    for out in (story, twin):
        for force in ([], ["--force"]):
            args = ["generate", "--prompt-file", str(story), *model, "-o", str(out), *force]
            proc = call_writer(*args, env=isolated_user_dirs)
            assert "it is the input file" in one_line(proc, 1), (out, force)
    assert story.read_text(encoding="utf-8") == "The story so far."


def test_generate_never_writes_over_the_database(tmp_path, tiny_model_dir, isolated_user_dirs):
    db = Path(isolated_user_dirs["XDG_DATA_HOME"]) / "writer" / "writer.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"SQLite format 3\x00 precious")
    hard = tmp_path / "notes.txt"
    os.link(db, hard)
    soft = tmp_path / "soft.txt"
    soft.symlink_to(db)
    model = _model(tiny_model_dir)
    for out, words in ((db, "writer's data folder"), (hard, "drafts database"), (soft, "data")):
        proc = call_writer(
            "generate", "Hi", *model, "-o", str(out), "--force", env=isolated_user_dirs
        )
        assert words in one_line(proc, 1), out
    assert db.read_bytes() == b"SQLite format 3\x00 precious"


def test_existing_file_needs_force_and_is_replaced_atomically(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    out = tmp_path / "out.txt"
    out.write_text("keep me", encoding="utf-8")
    out.chmod(0o640)
    model = _model(tiny_model_dir)
    refused = call_writer("generate", "Hi", *model, "-o", str(out), env=isolated_user_dirs)
    assert "exists; add --force to overwrite it" in one_line(refused, 1)
    assert out.read_text(encoding="utf-8") == "keep me"
    forced = call_writer("generate", "Hi", *model, "-o", str(out), "-f", env=isolated_user_dirs)
    assert forced.returncode == 0, forced.stderr
    assert "--- candidate 1" in out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o777 == 0o640  # replaced, keeping its permissions
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    new = tmp_path / "new.txt"
    made = call_writer("generate", "Hi", *model, "-o", str(new), env=isolated_user_dirs)
    assert made.returncode == 0 and "--- candidate 1" in new.read_text(encoding="utf-8")


def test_odd_destinations_are_one_line(tmp_path, tiny_model_dir, isolated_user_dirs):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    model = _model(tiny_model_dir)
    for out, words in (
        (str(loop), "cannot write to"),
        ("/dev/full", "not a regular file"),
        (str(tmp_path), "it is a folder"),
        (str(tmp_path / "missing" / "x.txt"), "does not exist"),
    ):
        proc = call_writer("generate", "Hi", *model, "-o", out, env=isolated_user_dirs)
        assert words in one_line(proc, 1), out


def test_drafts_export_follows_the_same_rules(tmp_path, isolated_user_dirs):
    story = tmp_path / "story.txt"
    story.write_text("A ship.", encoding="utf-8")
    assert call_writer("drafts", "import", str(story), env=isolated_user_dirs).returncode == 0
    out = tmp_path / "out.md"
    out.write_text("mine", encoding="utf-8")
    refused = call_writer("drafts", "export", "1", "-o", str(out), env=isolated_user_dirs)
    assert "add --force" in one_line(refused, 1)
    forced = call_writer("drafts", "export", "1", "-o", str(out), "--force", env=isolated_user_dirs)
    assert forced.returncode == 0 and "A ship." in out.read_text(encoding="utf-8")


def test_generate_o_end_to_end(tmp_path, tiny_model_dir, isolated_user_dirs):
    """The reported case, in a process of its own: the story is never replaced."""
    story = tmp_path / "story.md"
    story.write_text("Chapter one.", encoding="utf-8")
    proc = run_writer(
        "generate", "--prompt-file", str(story), *_model(tiny_model_dir), "-o", str(story),
        env=isolated_user_dirs,
    )  # fmt: skip
    assert "it is the input file" in one_line(proc, 1)
    assert story.read_text(encoding="utf-8") == "Chapter one."
