"""StoreCore: the connection, its transactions, and the draft and revision rows under them.

What DraftStore and its collaborators (generations.GenerationLog, context.StoryContexts,
chats.ChatLog, judgments.JudgmentLog) are each handed. Its API, for code inside writer.store:

    with core.write() as conn: ...      # one transaction; StoreWriteError and no change on failure
    with core.read() as conn: ...       # a read; WriterError naming the database on failure
    core.now()                          # the store's clock (injectable in tests)
    core.draft_row(conn, draft_id)      # the draft's row, or WriterError naming the ID
    core.replace_text(conn, row, text, now, force_snapshot=...)   # set text, keep the old one
    core.add_revision(conn, draft_id, text, reason, now)          # record a revision

`conn` (the sqlite3 connection) is there for the store's own modules, tests and benchmarks
that read the schema directly; everything else goes through DraftStore. Every method is
thread-safe: one re-entrant lock serialises them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from writer.config import Config
from writer.errors import WriterError
from writer.store import db, rebuild, revisions, revstore
from writer.store.models import AUTO, Revision
from writer.store.rows import (
    DRAFT_COLUMNS,
    BadRowError,
    draft_text,
    in_range,
    revision_from_row,
)
from writer.store.textio import encodable


class StoreCore:
    """One open drafts database: connection, lock, clock, settings and revision caches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
        watch_file: bool = True,
    ) -> None:
        self.conn = conn
        self.path = path
        self.lock = threading.RLock()
        self._config = config
        self._clock = clock
        # Decompressed revision bases (by ID; IDs are never reused) and each draft's newest
        # revision text, so an autosave does not rebuild texts it has just written.
        self._bases: revstore.BaseCache = {}
        self._latest_text: dict[int, tuple[int, str]] = {}
        # The file as it was after the last commit, to notice it deleted, truncated or
        # replaced underneath (rebuild.py); None where nothing is watched (read-only).
        self._file = rebuild.FileState.of(path) if watch_file else None
        #: Lines for the user about the file being written again (take_file_notices).
        self.file_notices: list[str] = []

    def now(self) -> float:
        return self._clock()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def copy_to(self, path: Path) -> None:
        """Write a consistent copy of the whole database, as this connection sees it, to `path`
        (SQLite's online backup)."""
        with self.lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            db.create_private(path)  # 0600 like every drafts database, whatever the umask
            target = sqlite3.connect(path)
            try:
                self.conn.backup(target)
            finally:
                target.close()

    # -- settings ------------------------------------------------------------------------------

    def settings(self) -> Config:
        """The config given at open, else config.toml, read the first time it is needed."""
        if self._config is None:
            from writer.config import load_config

            self._config = load_config()
        return self._config

    @property
    def revision_interval(self) -> float:
        return float(self.settings().revision_interval)

    @property
    def revisions_keep(self) -> int:
        return int(self.settings().revisions_keep)

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (db.write_transaction): all of it, or StoreWriteError. First,
        a file changed underneath is written again from this connection (check_file)."""
        with self.lock:
            self.check_file()
            try:
                with db.write_transaction(self.conn, self.path) as conn:
                    yield conn
            except BaseException:
                # A rolled-back insert's ID is handed out again: forget what it held.
                self._bases.clear()
                self._latest_text.clear()
                raise
            if self._file is not None:
                self._file = rebuild.FileState.of(self.path) or self._file

    def check_file(self) -> str | None:
        """If the database file was deleted, truncated or replaced since the last commit,
        write it again from this connection (rebuild.rebuild) and return the line that says
        so (also kept in `file_notices`); else None. Two stat calls when nothing changed.
        StoreWriteError when it cannot be written again."""
        with self.lock:
            if self._file is None:
                return None
            what = rebuild.change(self.path, self._file)
            if what is None:
                return None
            done = rebuild.rebuild(self.conn, self.path, what, self.now())
            self.conn = done.conn
            self._bases.clear()
            self._latest_text.clear()
            self._file = rebuild.FileState.of(self.path)
            self.file_notices.append(done.message)
            return done.message

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; an SQLite error becomes one WriterError line."""
        with self.lock:
            try:
                yield self.conn
            except sqlite3.Error as exc:
                raise WriterError(f"cannot read the drafts database {self.path}: {exc}") from None

    # -- drafts and revisions ------------------------------------------------------------------

    def draft_row(self, conn: sqlite3.Connection, draft_id: int, *, readable: bool = True) -> tuple:
        """The draft's row (rows.DRAFT_COLUMNS), or WriterError naming the ID; with
        `readable`, its text checked (BadRowError) and decoded."""
        row = None
        if in_range(int(draft_id)):
            row = conn.execute(
                f"SELECT {DRAFT_COLUMNS} FROM drafts WHERE id = ?", (int(draft_id),)
            ).fetchone()
        if row is None:
            raise WriterError(f"no draft with ID {draft_id}; see `writer drafts list`")
        if readable:
            row = (*row[:2], draft_text(row[0], row[2]), *row[3:])
        return row

    def add_revision(
        self, conn: sqlite3.Connection, draft_id: int, text: str, reason: str, now: float
    ) -> int:
        """Record `text` as a revision of the draft (pruning old ones); returns its ID."""
        rid = revstore.store_revision(conn, draft_id, text, now, reason, self._bases)
        ids = conn.execute(
            "SELECT id, reason FROM revisions WHERE draft_id = ? ORDER BY id", (draft_id,)
        ).fetchall()
        doomed = revisions.revisions_to_prune(ids, self.revisions_keep)
        if doomed:
            conn.executemany("DELETE FROM revisions WHERE id = ?", [(i,) for i in doomed])
            revstore.drop_unused_bases(conn, draft_id)
        # (write() forgets this if the transaction rolls back.)
        self._latest_text[draft_id] = (rid, text)
        return rid

    def latest_revision(self, conn: sqlite3.Connection, draft_id: int) -> tuple | None:
        """(id, text, created) of the draft's newest revision; text None when unreadable."""
        row = conn.execute(
            f"SELECT id, text, created, {self.packed_columns(conn)} FROM revisions "
            "WHERE draft_id = ? ORDER BY id DESC LIMIT 1",
            (draft_id,),
        ).fetchone()
        if row is None:
            return None
        cached = self._latest_text.get(draft_id)
        if cached is not None and cached[0] == row[0]:
            return row[0], cached[1], row[2]
        try:
            text: str | None = revstore.revision_text(conn, row[1], row[3], row[4], self._bases)
        except ValueError:
            text = None
        return row[0], text, row[2]

    @staticmethod
    def packed_columns(conn: sqlite3.Connection) -> str:
        """base_id and delta, or two NULLs in a database from before migration 5 (one opened
        read-only is read as it is, never migrated)."""
        names = {r[1] for r in conn.execute("PRAGMA table_info(revisions)")}
        return "base_id, delta" if "delta" in names else "NULL, NULL"

    def revision(self, conn: sqlite3.Connection, row: tuple) -> Revision:
        """A Revision from (id, draft_id, created, reason, text, base_id, delta)."""
        try:
            text = revstore.revision_text(conn, row[4], row[5], row[6], self._bases)
        except ValueError as exc:
            raise BadRowError(
                f"revision {row[0]} cannot be read: {exc} (was the database changed by another "
                "program?)"
            ) from None
        return revision_from_row((*row[:4], text))

    def replace_text(
        self,
        conn: sqlite3.Connection,
        row: tuple,
        text: str,
        now: float,
        *,
        force_snapshot: bool,
        cursor: tuple[int, int] | None = None,
        scroll: int | None = None,
    ) -> None:
        """Set a draft's text, first keeping the old text as an "auto" revision when due."""
        draft_id, old_text, created = row[0], row[2], row[3]
        text = encodable(text)
        latest = self.latest_revision(conn, draft_id)
        latest_text = latest[1] if latest else None
        due = revisions.snapshot_due(
            old_text=old_text,
            new_text=text,
            latest_revision_text=latest_text,
            now=now,
            last_boundary=latest[2] if latest else created,
            interval=0 if force_snapshot else self.revision_interval,
        )
        if due:
            self.add_revision(conn, draft_id, old_text, AUTO, now)
        if text != old_text:
            conn.execute(
                "UPDATE drafts SET text = ?, updated = ? WHERE id = ?", (text, now, draft_id)
            )
        if cursor is not None:
            conn.execute(
                "UPDATE drafts SET cursor_row = ?, cursor_col = ? WHERE id = ?",
                (int(cursor[0]), int(cursor[1]), draft_id),
            )
        if scroll is not None:
            conn.execute(
                "UPDATE drafts SET scroll_row = ? WHERE id = ?", (max(0, scroll), draft_id)
            )
