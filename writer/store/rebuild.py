"""Noticing that the database file changed underneath an open store, and writing it again from
the connection that still holds the data.

SQLite does not notice when its file is deleted, truncated, or replaced by another file renamed
onto its path: the open connection keeps reading and writing its own (possibly unlinked) file
and every save "succeeds" into something nobody will read again. So before each write the store
compares the file with what it knew after its last commit (`FileState`: two stat calls, no
read), and on a change (`change`) writes the database again (`rebuild`):

- the whole database as the open connection sees it (SQLite's online backup; for a deleted or
  replaced file the connection still reads its own file, for a truncated one the pages it has
  cached), else every row it can still read, table by table, into a fresh schema;
- a truncated or foreign file at the path is renamed aside (`writer.db.truncated-STAMP`,
  `writer.db.replaced-STAMP`), never deleted; the old connection's -wal, where SQLite leaves
  it, becomes `writer.db.stale-STAMP-wal` (its data is in the copy);
- the copy (0600) is renamed onto the path and opened; the store goes on with it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from writer.store import db

# Tables in an order that satisfies their foreign keys (a row whose parent is lost is skipped).
_TABLES = (
    "drafts",
    "revision_bases",
    "revisions",
    "generations",
    "story_contexts",
    "chats",
    "chat_turns",
    "comparisons",
    "judgments",
)


@dataclass(frozen=True)
class FileState:
    """What stat says about the database file and its -wal after the store's last commit."""

    dev: int
    ino: int
    size: int
    wal: int

    @classmethod
    def of(cls, path: Path) -> FileState | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        try:
            wal = os.stat(f"{path}-wal").st_size
        except OSError:
            wal = 0
        return cls(st.st_dev, st.st_ino, st.st_size, wal)


def change(path: Path, known: FileState) -> str | None:
    """ "deleted", "replaced" or "truncated" when the file at `path` is no longer the one the
    store wrote, else None. A database file only shrinks by VACUUM, and its -wal not at all
    while a connection is open (SQLite restarts it from the top, keeping its size)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "deleted"
    except OSError:
        return None  # cannot tell (a folder made unreadable): the write reports problems
    if (st.st_dev, st.st_ino) != (known.dev, known.ino):
        return "replaced"
    if st.st_size < known.size:
        return "truncated"
    try:
        wal = os.stat(f"{path}-wal").st_size
    except FileNotFoundError:
        wal = 0
    except OSError:
        return None
    return "truncated" if wal < known.wal else None


@dataclass
class Rebuilt:
    """The new connection, and what to tell the user."""

    conn: sqlite3.Connection
    message: str
    drafts: int
    moved: Path | None


def rebuild(conn: sqlite3.Connection, path: Path, what: str, now: float) -> Rebuilt:
    """Write the database at `path` again from `conn` (which is closed) after the file was
    `what` ("deleted", "replaced", "truncated"); returns the connection to the new file.
    Raises StoreWriteError when no new file can be written (the old connection is then left
    open: the caller's write fails and says why)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    copy = path.with_name(f".{path.name}.rebuild-{os.getpid()}")
    try:
        _unlink_own(copy)
        drafts, whole = _write_copy(conn, copy)
    except (sqlite3.Error, OSError) as exc:
        _unlink_own(copy)
        raise db.write_error(path, exc, "write again") from None
    moved = None
    try:
        if what != "deleted" and path.exists():
            moved = _rename_aside(path, f"{what}-{stamp}")
    except OSError as exc:
        _unlink_own(copy)
        raise db.write_error(path, exc, "move aside") from None
    with contextlib.suppress(sqlite3.Error):
        conn.close()  # SQLite removes the -wal and -shm it was using, by name
    # Whatever is still beside the path belonged to the old connection (SQLite keeps the -wal
    # of a file renamed away): neither the new database nor a file moved aside may be opened
    # with it (SQLite would replay that WAL into it), so it gets a name of its own.
    # The -shm is only an index of the -wal, rebuilt from it whenever it is missing.
    owner = path.with_name(f"{path.name}.stale-{stamp}")
    with contextlib.suppress(OSError):
        os.rename(f"{path}-wal", f"{owner}-wal")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"{path}-shm")
    if path.exists():  # created again in the meantime: kept too
        with contextlib.suppress(OSError):
            _rename_aside(path, f"{what}-{stamp}")
    try:
        os.rename(copy, path)
        new_conn, _recovered = db.open_database(path)
    except OSError as exc:
        raise db.write_error(path, exc, "write again") from None
    return Rebuilt(new_conn, _message(path, what, moved, drafts, whole), drafts, moved)


def _message(path: Path, what: str, moved: Path | None, drafts: int, whole: bool) -> str:
    if what == "replaced":
        head = f"another file was moved onto the drafts database {path} while writer was running"
    elif what == "truncated":
        head = f"the drafts database {path} was truncated while writer was running"
    else:
        head = f"the drafts database {path} was deleted while writer was running"
    kept = f"; that file was moved to {moved} (kept as it was)" if moved else ""
    source = "everything this window could still read" if not whole else "this window's copy"
    return f"{head}{kept}; it was written again from {source} ({drafts} draft(s))"


def _unlink_own(copy: Path) -> None:
    """Remove a half-written copy of ours (never a user's file: the name is this process's)."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{copy}{suffix}")


def _rename_aside(path: Path, label: str) -> Path:
    target = path.with_name(f"{path.name}.{label}")
    n = 1
    while target.exists() or target.is_symlink():
        n += 1
        target = path.with_name(f"{path.name}.{label}-{n}")
    os.rename(path, target)
    return target


def _write_copy(conn: sqlite3.Connection, copy: Path) -> tuple[int, bool]:
    """The database as `conn` sees it, written to `copy` (0600): SQLite's backup when every
    page can still be read, else every row that can. Returns (drafts, whole)."""
    db.create_private(copy)
    target = sqlite3.connect(copy, isolation_level=None)
    try:
        try:
            conn.backup(target)
            if target.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                return target.execute("SELECT count(*) FROM drafts").fetchone()[0], True
        except sqlite3.Error:
            pass
    finally:
        target.close()
    _unlink_own(copy)
    db.create_private(copy)
    target = sqlite3.connect(copy, isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode = DELETE")
        db.migrate(target, copy)
        target.execute("BEGIN")
        for table in _TABLES:
            _copy_rows(conn, target, table)
        with contextlib.suppress(sqlite3.Error):
            rows = conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
            target.execute("DELETE FROM sqlite_sequence")
            target.executemany("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", rows)
        target.execute("COMMIT")
        return target.execute("SELECT count(*) FROM drafts").fetchone()[0], False
    finally:
        target.close()


def _copy_rows(conn: sqlite3.Connection, target: sqlite3.Connection, table: str) -> None:
    """Every row of `table` that `conn` can still read, forwards then backwards (rows on both
    sides of an unreadable page); one that does not fit (its parent lost) is left out."""
    for order in ("ASC", "DESC"):
        try:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid {order}")
            marks = ", ".join("?" * len(cursor.description))
            for row in cursor:
                with contextlib.suppress(sqlite3.Error):
                    target.execute(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", row)
        except sqlite3.Error:
            continue
