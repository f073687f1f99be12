"""Opening the store: creating, recovering a damaged database, reading where nothing can be
written, and the one-line message that tells the user what was found.

A mixin so draftstore.py keeps to the drafts themselves; it builds a DraftStore (`cls`) and uses
its `_write` / `_read` / `_clock`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from writer.errors import WriterError
from writer.store import db, salvage
from writer.store.models import StoreWriteError
from writer.store.rows import unreadable_drafts_warning

if TYPE_CHECKING:
    from writer.config import Config
    from writer.store.draftstore import DraftStore


class OpeningMixin:
    """DraftStore.open and what it reports."""

    recovered: Path | None
    salvaged: int
    read_only: str | None
    warnings: list[str]
    _salvage_report: salvage.SalvageReport | None
    _clock: Callable[[], float]
    _write: Any
    _read: Any

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        config: Config | None = None,
        clock: Callable[[], float] | None = None,
        read_only_ok: bool = False,
    ) -> DraftStore:
        """Open the store at `path` (default: writer.paths.database_path()), creating it.

        `config` supplies revision_interval / revisions_keep; without it config.toml is read the
        first time a revision is recorded (so a broken config never blocks reading drafts).
        A corrupt or unreadable database is moved aside and what it holds salvaged: see
        `recovered`/`recovery_message`. Raises StoreWriteError when the database cannot be
        opened for writing, unless `read_only_ok` and it can still be read (then `read_only`
        says why, and writes raise StoreWriteError).
        """
        if path is None:
            from writer.paths import database_path

            path = database_path()
        clock = clock or time.time
        was_empty = db.is_empty_file(path)
        try:
            conn, recovered = db.open_database(path, clock)
        except StoreWriteError as exc:
            if not read_only_ok or not path.is_file():
                raise
            return cls._open_read_only(path, exc, config=config, clock=clock)
        store = cls(conn, path, config=config, clock=clock, recovered=recovered)
        if was_empty:
            store.warnings.append(
                f"the drafts database {path} was empty (0 bytes; truncated or replaced?), so "
                "no drafts could be read from it and a new one was started; restore it from a "
                "backup if you have one"
            )
        if recovered is not None:
            store._salvage(recovered)
        store._note_bad_rows()
        return store

    @classmethod
    def _open_read_only(
        cls, path: Path, why: StoreWriteError, *, config: Config | None, clock: Callable
    ) -> DraftStore:
        damaged = False
        try:
            conn = db.open_read_only(path)
        except (sqlite3.Error, OSError):
            # Damaged and cannot be moved aside: salvage into memory, so reading still works.
            conn, damaged = db.memory_copy(b""), True
            db.migrate(conn, path)
        store = cls(conn, path, config=config, clock=clock)
        store.read_only = str(why)
        if damaged:
            report = salvage.SalvageReport()
            with contextlib.suppress(Exception), store._write() as writable:
                report = salvage.restore_into(writable, salvage.salvage(path), clock())
            conn.execute("PRAGMA query_only = ON")
            store.warnings.append(
                f"{why}; the database is also damaged: showing the {report.drafts} draft(s) "
                "salvaged from it, read-only"
            )
        else:
            store.warnings.append(f"{why}; showing the drafts read-only")
        store._note_bad_rows()
        return store

    def _salvage(self, moved: Path) -> None:
        """Copy everything still readable in the moved-aside database into the fresh one (same
        IDs), each draft with a "recovered" revision. A failure only means less salvaged."""
        found = salvage.salvage(moved)
        try:
            with self._write() as conn:
                self._salvage_report = salvage.restore_into(conn, found, self._clock())
        except Exception:  # a damaged file must never keep the fresh store from opening
            self._salvage_report = salvage.SalvageReport(empty_file=found.empty_file)
        self.salvaged = self._salvage_report.drafts

    def _note_bad_rows(self) -> None:
        """Drafts whose text is not text are skipped by listings; say so once, at open."""
        with contextlib.suppress(WriterError), self._read() as conn:
            warning = unreadable_drafts_warning(conn)
            if warning:
                self.warnings.append(warning)

    @property
    def recovery_message(self) -> str | None:
        """One line telling the user what was found wrong at open (a database moved aside and
        what was salvaged from it, unreadable drafts, read-only), or None."""
        lines = list(self.warnings)
        if self.recovered is not None:
            lines.insert(0, salvage.describe(self.recovered, self._salvage_report))
        return "; ".join(lines) or None
