"""Salvaging a damaged drafts database: every table that holds text, page by page, reported.

The cases: random bytes over pages 2-3, a file truncated to half, a zero-byte file.
The pure-Python path is what CI has (no `sqlite3` program), so these tests hide the program."""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_writer
from writer.config import Config
from writer.store import DraftStore, salvage
from writer.store.sqlitefile import leaf_rows

PAGE = 4096


def _text(i: int, words: int = 3000) -> str:
    return " ".join(f"w{i}x{k}" for k in range(words)) + " end."


@pytest.fixture(autouse=True)
def no_sqlite3_program(monkeypatch):
    """CI has only Python: salvage must work without the `sqlite3` shell."""
    monkeypatch.setattr(salvage.shutil, "which", lambda name: None)


def _three_stories(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with DraftStore.open(path, config=Config()) as store:
        for i in (1, 2, 3):
            draft = store.create_draft(f"Story {i}", _text(i, 2900))
            store.save_text(draft.id, _text(i))
            store.generations.log(draft.id, "continue", {"temperature": 1}, 7, "m", [{"text": "x"}])


def _wreck_pages_2_3(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    noise = random.Random(9)
    data[PAGE : 3 * PAGE] = bytes(noise.randrange(256) for _ in range(2 * PAGE))
    path.write_bytes(bytes(data))
    return bytes(data)


def test_random_bytes_over_pages_2_3_recovers_every_text(tmp_path) -> None:
    path = tmp_path / "writer.db"
    _three_stories(path)
    damaged = _wreck_pages_2_3(path)
    with DraftStore.open(path) as store:
        assert store.recovered is not None and store.recovered.read_bytes() == damaged
        message = store.recovery_message
        assert "3 draft(s)" in message and str(store.recovered) in message and "\n" not in message
        assert "page-by-page scan" in message
        texts = {d.id: store.get_draft(d.id).text for d in store.list_drafts()}
        assert texts == {1: _text(1), 2: _text(2), 3: _text(3)}
        assert all(store.generations.recent(i) for i in (1, 2, 3))  # the log came back too
        assert all(r.reason == "recovered" for r in (store.history(i)[0] for i in (1, 2, 3)))
        assert store.create_draft("new").id == 4


def test_truncated_to_half_keeps_what_the_half_holds(tmp_path) -> None:
    path = tmp_path / "writer.db"
    _three_stories(path)
    data = path.read_bytes()
    # Two thirds: revisions are now compressed deltas, so the first half of this small file is
    # only schema and free pages; two thirds reach into the drafts' rows and texts.
    path.write_bytes(data[: len(data) * 2 // 3])
    with DraftStore.open(path) as store:
        # Whole drafts or fragments of their texts, depending on where the schema's pages fall.
        kept = store.list_drafts()
        assert kept and "fragment(s)" in store.recovery_message or store.salvaged >= 1
        if store.salvaged:
            assert f"{store.salvaged} draft(s)" in store.recovery_message
        originals = [_text(i) for i in (1, 2, 3)] + [_text(i, 2900) for i in (1, 2, 3)]
        for summary in store.list_drafts():
            text = store.get_draft(summary.id).text
            if summary.id <= 3:  # whole, or cut short where the file ends (and said so)
                assert _text(summary.id).startswith(text) or _text(summary.id, 2900) == text
                if text not in (_text(summary.id), _text(summary.id, 2900)):
                    assert "cut short" in store.recovery_message
            else:  # a fragment: the tail of a text whose row is lost (+ a stray byte or two)
                assert summary.title.startswith("Recovered fragment")
                assert any(text[:-8] in original for original in originals)


def test_a_lost_row_page_leaves_its_text_as_a_fragment(tmp_path) -> None:
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as store:
        store.create_draft("Only copy", "")
        store.save_text(1, _text(1))
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("DELETE FROM revisions")  # no revision holds it: the draft row is the only copy
    raw.execute("VACUUM")
    raw.close()
    data = bytearray(path.read_bytes())
    [leaf] = [r.page for r in leaf_rows(bytes(data)) if r.values[1:2] == ["Only copy"]]
    data[(leaf - 1) * PAGE : leaf * PAGE] = bytes(PAGE)
    path.write_bytes(bytes(data))
    with DraftStore.open(path) as store:
        assert "1 text fragment(s)" in store.recovery_message
        [summary] = store.list_drafts()
        text = store.get_draft(summary.id).text
        assert summary.title.startswith("Recovered fragment")
        assert len(text) > len(_text(1)) * 0.7 and _text(1).endswith(text)


def test_cli_reports_salvage_and_a_zero_byte_database(isolated_user_dirs) -> None:
    env = isolated_user_dirs
    path = Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db"
    _three_stories(path)
    _wreck_pages_2_3(path)
    listing = run_writer("drafts", "list", env={**env, "PATH": "/nonexistent"})
    assert listing.returncode == 0
    assert listing.stderr.startswith("writer: warning: ") and listing.stderr.count("\n") == 1
    assert "3 draft(s)" in listing.stderr and len(listing.stdout.splitlines()) == 3
    for extra in path.parent.glob("writer.db*"):
        extra.unlink()
    path.write_bytes(b"")
    empty = run_writer("drafts", "list", env=env)
    assert empty.returncode == 0 and empty.stderr.count("\n") == 2  # the warning + "no drafts"
    assert "was empty (0 bytes" in empty.stderr.splitlines()[0]
    assert run_writer("drafts", "list", env=env).stderr.count("\n") == 1  # told once


def _recover_works() -> bool:
    shell = shutil.which("sqlite3")
    if shell is None:
        return False
    result = subprocess.run([shell, ":memory:", ".recover"], capture_output=True, text=True)
    return result.returncode == 0


def test_sqlite3_recover_is_used_when_installed(tmp_path, monkeypatch) -> None:
    monkeypatch.undo()
    if not _recover_works():
        pytest.skip("no sqlite3 program with .recover (sqlite_dbpage) here")
    path = tmp_path / "writer.db"
    _three_stories(path)
    _wreck_pages_2_3(path)
    with DraftStore.open(path) as store:
        assert "sqlite3 .recover" in store.recovery_message
        assert {store.get_draft(i).text for i in (1, 2, 3)} == {_text(i) for i in (1, 2, 3)}


RECOVER_OUTPUT = """BEGIN;
PRAGMA writable_schema = on;
CREATE TABLE sqlite_sequence(name,seq);
CREATE TABLE drafts (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL DEFAULT '', created REAL NOT NULL, updated REAL NOT NULL, preset TEXT,
  overrides TEXT NOT NULL DEFAULT '{}', model TEXT, cursor_row INTEGER NOT NULL DEFAULT 0,
  cursor_col INTEGER NOT NULL DEFAULT 0, external_path TEXT);
INSERT OR IGNORE INTO 'drafts'('id', 'title', 'text', 'created', 'updated', 'preset',
  'overrides', 'model', 'cursor_row', 'cursor_col', 'external_path')
  VALUES(1, 'From recover', 'text; with a semicolon', 10.0, 11.0, NULL, '{}', NULL, 0, 0, NULL);
ATTACH '{evil}' AS evil;
CREATE TABLE evil.t(x);
CREATE TABLE lost_and_found(rootpgno INTEGER, pgno INTEGER, nfield INTEGER, id INTEGER, c0, c1,
  c2, c3, c4, c5, c6, c7, c8, c9, c10);
INSERT INTO lost_and_found VALUES(6, 9, 5, 7, NULL, 2, 'an orphaned revision', 12.5, 'manual',
  NULL, NULL, NULL, NULL, NULL, NULL);
PRAGMA writable_schema = off;
COMMIT;
"""


def _salvage_with_recover_printing(script: str, tmp_path: Path, monkeypatch) -> salvage.Salvaged:
    """Salvage three stories with a stand-in `sqlite3` program whose `.recover` prints `script`."""
    fake = tmp_path / "sqlite3"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{script}EOF\n")
    fake.chmod(0o755)
    monkeypatch.setattr(salvage.shutil, "which", lambda name: str(fake))
    path = tmp_path / "writer.db"
    _three_stories(path)
    return salvage.salvage(path)


def test_recover_output_is_read_and_cannot_touch_other_files(tmp_path, monkeypatch) -> None:
    """The .recover route, with a stand-in `sqlite3` program: its rows (lost_and_found
    included) are used, and the SQL it prints, built from a hostile file, cannot ATTACH."""
    evil = tmp_path / "evil.db"
    script = RECOVER_OUTPUT.replace("{evil}", str(evil))
    found = _salvage_with_recover_printing(script, tmp_path, monkeypatch)
    assert "sqlite3 .recover" in found.methods
    assert found.drafts[1][1] in ("Story 1", "From recover")  # SQLite's own read comes first
    assert found.revisions[7][1:3] == (2, "an orphaned revision")
    assert not evil.exists()


def _chats(path: Path) -> dict[int, tuple]:
    """Two chats on draft 1 (one turn long enough to overflow a page), one on draft 3; returns
    each chat as (draft, character, about, turns)."""
    with DraftStore.open(path, config=Config()) as store:
        mara = store.chats.create(1, "Mara", "A ferrywoman.")
        store.chats.add_turn(mara.id, "author", "Who are you?")
        store.chats.add_turn(mara.id, "character", _text(7, 2000))  # ~15 KB: overflow pages
        store.chats.add_turn(mara.id, "author", "Why the river?")
        store.chats.add_turn(store.chats.create(1, "Ode").id, "character", "I keep the lamps.")
        store.chats.add_turn(store.chats.create(3, "Tam", "").id, "author", "Hello, Tam.")
        return {
            c.id: (c.draft_id, c.character, c.about, [(t.speaker, t.text) for t in c.turns])
            for c in (store.chats.get(i) for i in (1, 2, 3))
        }


def _chats_in(store: DraftStore) -> dict[int, tuple]:
    chats = [c for d in store.list_drafts() for c in store.chats.for_draft(d.id)]
    return {
        c.id: (c.draft_id, c.character, c.about, [(t.speaker, t.text) for t in c.turns])
        for c in (store.chats.get(chat.id) for chat in chats)
    }


def test_chats_with_their_turns_are_salvaged_and_counted(tmp_path) -> None:
    path = tmp_path / "writer.db"
    _three_stories(path)
    chats = _chats(path)
    _wreck_pages_2_3(path)
    with DraftStore.open(path) as store:
        assert store.recovered is not None
        assert "3 chat(s) with characters (5 turn(s))" in store.recovery_message
        assert _chats_in(store) == chats
        assert store.chats.create(1, "New").id == 4  # IDs are not handed out again
        store.chats.add_turn(1, "author", "Still there?")
        assert store.chats.get(1).turns[-1].text == "Still there?"


def test_the_page_scan_reads_chats_and_keeps_a_cut_turn(tmp_path) -> None:
    path = tmp_path / "writer.db"
    _three_stories(path)
    chats = _chats(path)
    image = path.read_bytes()
    found = salvage.Salvaged()
    salvage._with_page_scan(image, found)  # the one way that needs no schema
    assert {cid: (row[1], row[2], row[3]) for cid, row in found.chats.items()} == {
        cid: chat[:3] for cid, chat in chats.items()
    }
    turns = [(row[1], row[2], row[3]) for _, row in sorted(found.turns.items())]
    assert turns == [(cid, *turn) for cid, chat in chats.items() for turn in chat[3]]
    # The long turn's overflow pages wiped: its start comes back, said to be cut short.
    [long_turn] = [r for r in leaf_rows(image) if len(r.values) == 5 and r.overflow]
    data = bytearray(image)
    for page in long_turn.overflow[1:]:
        data[(page - 1) * PAGE : page * PAGE] = bytes(PAGE)
    cut = salvage.Salvaged()
    salvage._with_page_scan(bytes(data), cut)
    speaker, text = cut.turns[long_turn.rowid][2:4]
    assert speaker == "character" and 1000 < len(text) < len(chats[1][3][1][1])
    assert chats[1][3][1][1].startswith(text)
    assert not cut.revisions.keys() - found.revisions.keys()  # not taken for a revision


def test_lost_and_found_chat_rows_from_recover_are_used(tmp_path, monkeypatch) -> None:
    script = (
        "CREATE TABLE lost_and_found(rootpgno INTEGER, pgno INTEGER, nfield INTEGER, id INTEGER,"
        " c0, c1, c2, c3, c4, c5);\n"
        "INSERT INTO lost_and_found VALUES(30, 31, 6, 9, NULL, 2, 'Ode', 'A lamplighter.', 5.0,"
        " 6.0);\n"
        "INSERT INTO lost_and_found VALUES(32, 33, 5, 40, NULL, 9, 'character', 'I keep the"
        " lamps.', 6.0, NULL);\n"
    )
    found = _salvage_with_recover_printing(script, tmp_path, monkeypatch)
    assert found.chats[9] == (9, 2, "Ode", "A lamplighter.", 5.0, 6.0)
    assert found.turns[40] == (40, 9, "character", "I keep the lamps.", 6.0)


def test_sqlite3_recover_brings_back_chats_when_installed(tmp_path, monkeypatch) -> None:
    monkeypatch.undo()
    if not _recover_works():
        pytest.skip("no sqlite3 program with .recover (sqlite_dbpage) here")
    path = tmp_path / "writer.db"
    _three_stories(path)
    chats = _chats(path)
    _wreck_pages_2_3(path)
    with DraftStore.open(path) as store:
        assert "sqlite3 .recover" in store.recovery_message
        assert "3 chat(s)" in store.recovery_message and _chats_in(store) == chats
