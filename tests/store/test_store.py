"""DraftStore through its public API: drafts, revisions, the generation log, files, locks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from writer.config import Config
from writer.errors import WriterError
from writer.store import DraftStore
from writer.store.db import SCHEMA_VERSION


class Clock:
    """A settable clock, so revision coalescing can be tested without sleeping."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock):
    s = DraftStore.open(
        tmp_path / "db" / "writer.db",
        config=Config(revision_interval=60, revisions_keep=10),
        clock=clock,
    )
    yield s
    s.close()


def test_open_defaults_to_the_data_dir_and_sets_up_wal(isolated_user_dirs) -> None:
    with DraftStore.open() as s:
        expected = Path(isolated_user_dirs["XDG_DATA_HOME"]) / "writer" / "writer.db"
        assert s.path == expected and expected.exists()
        assert s.recovered is None and s.recovery_message is None
    raw = sqlite3.connect(expected)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_drafts_round_trip_and_survive_reopening(store, clock, tmp_path) -> None:
    d = store.create_draft("The fox", "Once upon", preset="wild", overrides={"temperature": 1.2})
    clock.now += 5
    store.save_text(d.id, "Once upon a time", cursor=(0, 16))
    store.set_draft_settings(d.id, model="gpt2")
    store.close()
    with DraftStore.open(store.path) as again:
        got = again.get_draft(d.id)
    assert (got.title, got.text, got.cursor, got.model) == (
        "The fox",
        "Once upon a time",
        (0, 16),
        "gpt2",
    )
    assert (got.preset, got.overrides, got.word_count) == ("wild", {"temperature": 1.2}, 4)
    assert got.updated == got.created + 5


def test_list_is_newest_edit_first_and_last_draft_skips_external_files(store, clock, tmp_path):
    a = store.create_draft("A")
    clock.now += 1
    b = store.create_draft("B")
    clock.now += 1
    store.save_text(a.id, "edited later")
    clock.now += 1
    store.create_draft("ext", external_path=tmp_path / "story.md")
    assert [s.id for s in store.list_drafts()] == [3, a.id, b.id]
    assert store.last_draft().id == a.id
    assert store.find_by_external_path(tmp_path / "." / "story.md").title == "ext"
    assert store.find_by_external_path(tmp_path / "other.md") is None


def test_unknown_ids_are_one_line_errors(store) -> None:
    with pytest.raises(WriterError, match=r"no draft with ID 7; see `writer drafts list`"):
        store.get_draft(7)
    with pytest.raises(WriterError, match="no draft with ID 7"):
        store.save_text(7, "text")
    with pytest.raises(WriterError, match="no revision with ID 3"):
        store.get_revision(3)


def test_autosaves_coalesce_into_one_revision_per_interval(store, clock) -> None:
    d = store.create_draft("t")
    for second in range(0, 300, 2):  # five minutes of typing, an autosave every 2 s
        clock.now += 2
        store.save_text(d.id, f"word {second}")
    autos = [r for r in store.history(d.id) if r.reason == "auto"]
    assert 4 <= len(autos) <= 5
    gaps = [a.created - b.created for a, b in zip(autos, autos[1:], strict=False)]
    assert all(gap >= 60 for gap in gaps)


def test_a_large_deletion_keeps_the_deleted_text(store, clock) -> None:
    text = "The lighthouse keeper " * 20
    d = store.create_draft("t")
    clock.now += 1
    store.save_text(d.id, text)
    clock.now += 1  # well inside the interval
    store.save_text(d.id, "")
    assert store.get_revision(store.history(d.id)[0].id).text == text
    assert store.get_draft(d.id).text == ""


def test_restore_is_itself_a_revision_and_can_be_undone(store, clock) -> None:
    d = store.create_draft("t", "first version")
    clock.now += 100
    store.save_text(d.id, "second version")
    first = store.history(d.id)[-1]
    assert first.reason == "create" and first.preview == "first version"
    clock.now += 1
    restored = store.restore_revision(d.id, first.id)
    assert restored.text == "first version"
    reasons = [(r.reason, r.preview) for r in store.history(d.id)]
    assert reasons[0] == ("restore", "first version")
    assert ("before-restore", "second version") in reasons


def test_restore_refuses_a_revision_of_another_draft(store) -> None:
    a = store.create_draft("a", "text a")
    b = store.create_draft("b", "text b")
    with pytest.raises(WriterError, match="belongs to draft"):
        store.restore_revision(b.id, store.history(a.id)[0].id)


def test_retention_keeps_explicit_revisions_and_drops_oldest_autos(store, clock) -> None:
    d = store.create_draft("t", "start")
    insert_id = store.save_revision(d.id, "start inserted", "insert")
    for i in range(30):
        clock.now += 61
        store.save_text(d.id, f"text {i}")
    history = store.history(d.id)
    assert len(history) == 10
    assert {r.id for r in history} >= {insert_id}
    assert history[0].preview == "text 28"  # the newest auto revision is the text before "text 29"


def test_generation_log_and_mark_inserted(store) -> None:
    d = store.create_draft("t", "The fox")
    cands = [
        {"text": " ran", "tokens": 1, "logprob": -1.5, "seed": 7},
        {"text": " slept", "tokens": 1, "logprob": -2.0, "seed": 8},
    ]
    gen = store.generations.log(d.id, "continue", {"temperature": 0.9}, 7, "gpt2", cands)
    store.generations.mark_inserted(gen, 1, "The fox slept")
    [record] = store.generations.recent(d.id)
    assert (record.id, record.seed, record.params, record.inserted) == (
        gen,
        7,
        {"temperature": 0.9},
        1,
    )
    assert record.candidates == cands
    assert store.get_draft(d.id).text == "The fox slept"
    assert store.history(d.id)[0].reason == "insert"
    with pytest.raises(WriterError, match="no index 5"):
        store.generations.mark_inserted(gen, 5)


def test_generation_log_accepts_engine_candidates(store) -> None:
    from writer.engine.types import Candidate

    d = store.create_draft("t")
    gen = store.generations.log(d.id, "ideas", {}, 1, "m", [Candidate("x", 1, -0.5, 1)])
    assert store.generations.recent(d.id)[0].candidates[0]["text"] == "x"
    assert gen == store.generations.recent(d.id)[0].id


def test_export_and_import_round_trip(store, tmp_path) -> None:
    d = store.create_draft("Sea story", "The ship sailed north.\n\nLand.")
    md = store.export_draft(d.id, "md")
    assert md == "# Sea story\n\nThe ship sailed north.\n\nLand.\n"
    assert store.export_draft(d.id, "txt") == "The ship sailed north.\n\nLand.\n"
    path = tmp_path / "sea.md"
    path.write_text(md, encoding="utf-8")
    imported = store.import_file(path)
    assert (imported.title, imported.text) == ("Sea story", "The ship sailed north.\n\nLand.\n")
    assert store.history(imported.id)[0].reason == "import"
    plain = tmp_path / "notes.txt"
    plain.write_text("just text", encoding="utf-8")
    assert store.import_file(plain).title == "notes"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"caf\xe9"), "not UTF-8"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b"\x00\x01binary"), "binary"),
    ],
)
def test_import_rejects_bad_files_in_one_line(store, tmp_path, make, message) -> None:
    path = tmp_path / "bad.txt"
    make(path)
    with pytest.raises(WriterError, match=message) as info:
        store.import_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert store.list_drafts() == []


def test_delete_removes_the_draft_and_its_history(store) -> None:
    d = store.create_draft("t", "text")
    store.delete_draft(d.id)
    assert store.list_drafts() == []
    with pytest.raises(WriterError):
        store.history(d.id)
    assert store.create_draft("new").id != d.id  # IDs are never reused


def test_garbage_database_is_moved_aside_byte_for_byte(tmp_path) -> None:
    path = tmp_path / "data" / "writer.db"
    path.parent.mkdir()
    garbage = b"this is not a database\x00\xff" * 100
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"old wal")
    with DraftStore.open(path) as s:
        assert s.recovered is not None and s.recovered.parent == path.parent
        assert s.recovered.read_bytes() == garbage
        assert Path(f"{s.recovered}-wal").read_bytes() == b"old wal"
        assert str(s.recovered) in s.recovery_message and "\n" not in s.recovery_message
        s.create_draft("fresh", "works")
    with DraftStore.open(path) as s:  # the fresh store is fine next time
        assert s.recovered is None and s.list_drafts()[0].title == "fresh"


def test_damaged_database_is_moved_aside_and_readable_drafts_salvaged(tmp_path) -> None:
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as s:
        for i in range(1, 41):
            s.create_draft(f"d{i}", f"draft {i} " + "text " * 300)
    data = bytearray(path.read_bytes())
    page = 4096
    # Wreck one page in the middle of the drafts table (SQLite's header stays valid).
    middle = len(data) // 2 // page * page  # a whole page, not halves of two
    data[middle : middle + page] = b"\xde\xad" * (page // 2)
    path.write_bytes(bytes(data))
    with DraftStore.open(path) as s:
        assert s.recovered is not None and s.recovered.read_bytes() == bytes(data)
        salvaged = s.list_drafts()
        # Every text is back: rows on the wrecked page are rebuilt from their revisions.
        assert s.salvaged == len(salvaged) == 40
        assert "40 draft(s)" in s.recovery_message and "\n" not in s.recovery_message
        for summary in salvaged:
            draft = s.get_draft(summary.id)
            assert draft.title in (f"d{draft.id}", f"Recovered draft {draft.id}")
            assert draft.text == f"draft {draft.id} " + "text " * 300
            assert s.history(draft.id)[0].reason == "recovered"
        assert s.create_draft("new").id > max(d.id for d in salvaged)


def test_newer_schema_is_refused_not_moved(tmp_path) -> None:
    path = tmp_path / "writer.db"
    DraftStore.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(WriterError, match="newer writer"):
        DraftStore.open(path)
    assert path.exists()


def test_a_file_where_the_data_folder_should_be_is_a_clear_error(tmp_path) -> None:
    """Works as root too (chmod would not stop root): the folder cannot be created at all."""
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(WriterError, match="cannot create the data folder"):
        DraftStore.open(blocker / "writer.db")
    assert blocker.read_text() == "not a folder"


def test_second_store_sees_the_draft_locked_until_the_first_lets_go(store, tmp_path) -> None:
    d = store.create_draft("t")
    assert store.acquire_lock(d.id) and store.acquire_lock(d.id)
    with DraftStore.open(store.path) as other:
        assert other.acquire_lock(d.id) is False
        store.release_lock(d.id)
        assert other.acquire_lock(d.id) is True


def test_lock_dies_with_a_killed_process(store) -> None:
    d = store.create_draft("t")
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom writer.store import DraftStore\n"
        f"s = DraftStore.open(Path({str(store.path)!r}))\n"
        f"assert s.acquire_lock({d.id})\nprint('locked', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert store.acquire_lock(d.id) is False
        assert store.lock_owner(d.id) == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert store.acquire_lock(d.id) is True


def test_lone_surrogates_are_saved_as_replacement_characters(store) -> None:
    """Pasted text can carry a lone UTF-16 surrogate; the autosave must not fail over it."""
    d = store.create_draft("t\ud800", "a\udc00")
    store.save_text(d.id, "b\ud800")
    assert store.get_draft(d.id).text == "b\ufffd" and store.get_draft(d.id).title == "t\ufffd"
    store.save_revision(d.id, "c\ud800", "insert")
    assert store.get_revision(store.history(d.id)[0].id).text == "c\ufffd"


def test_position_and_word_goal_are_kept_per_draft_without_reordering_the_library():
    from writer.errors import WriterError

    with DraftStore.open() as store:
        older = store.create_draft("Older", "a\nb")
        newer = store.create_draft("Newer", "c")
        assert older.scroll is None and older.word_goal is None  # never recorded: open at end
        store.set_position(older.id, (1, 1), 7)
        store.set_word_goal(older.id, 80000)
        draft = store.get_draft(older.id)
        assert (draft.cursor, draft.scroll, draft.word_goal) == ((1, 1), 7, 80000)
        assert [d.id for d in store.list_drafts()] == [newer.id, older.id]  # not an edit
        store.set_word_goal(older.id, None)
        assert store.get_draft(older.id).word_goal is None
        with pytest.raises(WriterError, match="whole number"):
            store.set_word_goal(older.id, -5)
