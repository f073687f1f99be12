"""Story context per draft: the store, an old database's migration, export/import round trips."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_writer
from writer.config import Config
from writer.engine.story.context import LoreEntry, StoryContext
from writer.store import DraftStore
from writer.store.db import MIGRATIONS, SCHEMA_VERSION
from writer.store.rows import BadRowError

CONTEXT = StoryContext(
    memory='Mara is a smuggler.\nShe says "aye" a lot. \\ no escapes',
    note="Keep it tense.",
    note_depth=5,
    scan_depth=300,
    lorebook=(
        LoreEntry(keys=("dragon", "wyrm"), text="Dragons hoard songs,\nnot gold."),
        LoreEntry(text="It is always raining.", always=True, priority=3),
        LoreEntry(keys=(r"\bport\w*",), text="Port Vell is a free city.", regex=True),
    ),
)


def _open(path: Path) -> DraftStore:
    return DraftStore.open(path, config=Config())


def test_context_round_trips_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "writer.db"
    with _open(path) as store:
        draft = store.create_draft("Sea", "The ship sailed.")
        other = store.create_draft("Other", "x")
        assert store.context.load(draft.id) == StoryContext()
        store.context.save(draft.id, CONTEXT)
    with _open(path) as store:
        assert store.context.load(draft.id) == CONTEXT
        assert store.context.load(other.id) == StoryContext()
        store.context.save(draft.id, StoryContext())  # cleared: the row goes
        assert store.context.load(draft.id) == StoryContext()
        store.context.save(draft.id, CONTEXT)
        store.delete_draft(draft.id)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM story_contexts").fetchone()[0] == 0


def test_an_old_database_is_migrated_and_its_drafts_keep_an_empty_context(tmp_path) -> None:
    path = tmp_path / "writer.db"
    raw = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:2]:  # the database as writer left it before story contexts
        for statement in statements:
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 2")
    raw.execute("INSERT INTO drafts (title, text, created, updated) VALUES ('Old', 't', 1, 1)")
    raw.close()
    with _open(path) as store:
        (old,) = store.list_drafts()
        assert store.context.load(old.id) == StoryContext()
        store.context.save(old.id, CONTEXT)
        assert store.context.load(old.id) == CONTEXT
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_unreadable_stored_context_is_a_bad_row_not_a_crash(tmp_path) -> None:
    path = tmp_path / "writer.db"
    with _open(path) as store:
        draft = store.create_draft("Sea", "text")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("INSERT INTO story_contexts VALUES (?, ?)", (draft.id, '{"memory": 5}'))
    raw.close()
    with _open(path) as store:
        with pytest.raises(BadRowError, match="story context cannot be read"):
            store.context.load(draft.id)
        assert store.get_draft(draft.id).text == "text"
        store.context.save(draft.id, CONTEXT)  # a new one replaces it
        assert store.context.load(draft.id) == CONTEXT


def test_export_import_round_trip_keeps_the_context(tmp_path: Path) -> None:
    with _open(tmp_path / "writer.db") as store:
        draft = store.create_draft("Sea story", "+++ not front matter\n\nThe ship sailed.\n")
        plain = store.export_draft(draft.id, "md")
        assert not plain.startswith("+++")  # no context: the export is unchanged
        store.context.save(draft.id, CONTEXT)
        md = store.export_draft(draft.id, "md")
        assert md.startswith("+++\n") and "# Sea story" in md
        assert store.export_draft(draft.id, "txt").startswith("+++ not front")
        file = tmp_path / "sea.md"
        file.write_text(md, encoding="utf-8")
        back = store.import_file(file)
        assert back.title == "Sea story"
        assert back.text == draft.text
        assert store.context.load(back.id) == CONTEXT


def test_cli_show_export_import_with_context(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    path = Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db"
    with _open(path) as store:
        draft = store.create_draft("Sea story", "The ship sailed.")
        store.context.save(draft.id, CONTEXT)
    shown = run_writer("drafts", "show", str(draft.id), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "memory: Mara is a smuggler." in shown.stdout
    assert "author's note (depth 5 lines): Keep it tense." in shown.stdout
    assert "lorebook: 3 entries" in shown.stdout and "[dragon, wyrm]" in shown.stdout
    out = tmp_path / "sea.md"
    exported = run_writer("drafts", "export", str(draft.id), "-o", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    imported = run_writer("drafts", "import", str(out), env=env)
    assert imported.returncode == 0, imported.stderr
    new_id = int(imported.stdout.split()[0])
    with _open(path) as store:
        assert store.context.load(new_id) == CONTEXT
        assert store.get_draft(new_id).text == "The ship sailed.\n"  # exports end with one
    broken = tmp_path / "broken.md"
    broken.write_text('+++\nmemory = "unclosed\n+++\n\ntext\n', encoding="utf-8")
    bad = run_writer("drafts", "import", str(broken), env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("writer: error: ")
    assert bad.stderr.count("\n") == 1 and "front matter" in bad.stderr
