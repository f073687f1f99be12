"""The database file changed underneath an open store: deleted, truncated to nothing, or another
database renamed onto its path. The next write notices (stat, before each write) and writes the
database again from the open connection; a file found at the path is moved aside, never lost."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
from pathlib import Path

import pytest

from writer.config import Config
from writer.store import DraftStore, rebuild


def _text(i: int) -> str:
    return " ".join(f"d{i}w{k}" for k in range(2000))


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as opened:
        for i in (1, 2, 3):
            opened.create_draft(f"Story {i}", _text(i))
        opened.save_text(1, _text(1) + " typed")
        yield opened


def _reopened(path: Path) -> dict[int, str]:
    with DraftStore.open(path, config=Config()) as again:
        assert again.recovered is None and not again.recovery_message
        return {d.id: again.get_draft(d.id).text for d in again.list_drafts()}


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_truncated_files_are_written_again_from_the_connection(store) -> None:
    path = store.path
    os.truncate(path, 0)
    os.truncate(f"{path}-wal", 0)
    store.save_text(1, _text(1) + " typed after")
    [notice] = store.take_file_notices()
    assert "was truncated while writer was running" in notice and "3 draft(s)" in notice
    [moved] = path.parent.glob("writer.db.truncated-*[0-9]")
    assert str(moved) in notice and "\n" not in notice
    assert store.take_file_notices() == []  # told once
    store.save_text(2, _text(2) + " and more")  # the store goes on with the new file
    assert store.take_file_notices() == []
    store.close()
    assert _reopened(path) == {1: _text(1) + " typed after", 2: _text(2) + " and more", 3: _text(3)}
    assert _private(path)


def test_a_database_renamed_onto_the_path_is_kept_and_ours_written_again(store) -> None:
    path = store.path
    foreign = path.with_name("other.db")
    with DraftStore.open(foreign, config=Config()) as other:
        other.create_draft("Foreign", "someone else's story")
    foreign_bytes = foreign.read_bytes()
    os.rename(foreign, path)
    message = store.check_file()
    assert message and "another file was moved onto the drafts database" in message
    [moved] = path.parent.glob("writer.db.replaced-*[0-9]")
    assert moved.read_bytes() == foreign_bytes and str(moved) in message
    assert store.take_file_notices() == []  # told once, by check_file
    store.save_text(1, "after the swap")
    store.close()
    assert _reopened(path) == {1: "after the swap", 2: _text(2), 3: _text(3)}
    assert _private(path)
    with DraftStore.open(moved, config=Config()) as kept:
        assert [d.title for d in kept.list_drafts()] == ["Foreign"]


def test_a_deleted_database_is_written_again_by_the_next_save(store) -> None:
    path = store.path
    for suffix in ("", "-wal", "-shm"):
        with_suffix = Path(f"{path}{suffix}")
        if with_suffix.exists():
            with_suffix.unlink()
    store.save_text(3, "saved after the delete")
    [notice] = store.take_file_notices()
    assert "was deleted while writer was running" in notice and "3 draft(s)" in notice
    store.close()
    assert _reopened(path) == {1: _text(1) + " typed", 2: _text(2), 3: "saved after the delete"}
    assert _private(path)


def test_other_instances_writing_the_same_file_are_not_a_change(store) -> None:
    for k in range(5):
        with DraftStore.open(store.path, config=Config()) as other:
            other.save_text(2, _text(2) + f" other {k}")
            other.create_draft(f"Other {k}", "x" * 50_000)
        store.save_text(1, _text(1) + f" mine {k}")
    assert store.check_file() is None and store.take_file_notices() == []
    assert not list(store.path.parent.glob("writer.db.*-*"))


def test_a_truncated_store_larger_than_sqlites_default_cache_comes_back_whole(tmp_path) -> None:
    """SQLite's default page cache is 2,000 KiB: the store keeps room for every page it read
    at open (db.CACHE_KIB), so all of a 3 MB database is still in memory when it is truncated."""
    path = tmp_path / "writer.db"
    rng = random.Random(7)
    texts = {i: "".join(rng.choice("abcdefghij ") for _ in range(220_000)) for i in range(1, 11)}
    with DraftStore.open(path, config=Config()) as setup:
        for i, text in texts.items():
            setup.create_draft(f"Long {i}", text)
    assert path.stat().st_size > 3_000_000
    with DraftStore.open(path, config=Config()) as store:
        store.save_text(1, texts[1] + " typed")
        os.truncate(path, 0)
        os.truncate(f"{path}-wal", 0)
        store.save_text(1, texts[1] + " typed after")
        [notice] = store.take_file_notices()
        assert "10 draft(s)" in notice
    assert _reopened(path) == {**texts, 1: texts[1] + " typed after"}


class _NoBackup:
    """A connection whose online backup fails (as where some pages can no longer be read)."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def backup(self, *args, **kwargs) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_where_the_backup_fails_every_readable_row_is_copied(store) -> None:
    path = store.path
    store.generations.log(2, "continue", {"temperature": 1}, 7, "m", [{"text": "x"}])
    chat = store.chats.create(3, "Ode", "A lamplighter.")
    store.chats.add_turn(chat.id, "author", "Who are you?")
    history = [r.id for r in store.history(1)]
    path.unlink()
    done = rebuild.rebuild(_NoBackup(store.core.conn), path, "deleted", 0.0)
    assert "everything this window could still read" in done.message and done.drafts == 3
    store.core.conn = done.conn
    assert _private(path)
    store.close()
    assert _reopened(path) == {1: _text(1) + " typed", 2: _text(2), 3: _text(3)}
    with DraftStore.open(path, config=Config()) as again:
        assert [r.id for r in again.history(1)] == history
        assert again.generations.recent(2)
        [kept] = again.chats.for_draft(3)
        assert kept.character == "Ode" and again.create_draft("new").id == 4
