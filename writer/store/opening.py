"""Opening the store: creating, recovering a damaged database, reading where nothing can be
written, and the one-line message that tells the user what was found.

`open_core` builds a StoreCore and returns it with an `Opened` report; `DraftStore.open` wraps
both. This module knows nothing of DraftStore (types flow one way: core <- opening <- draftstore).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from writer.config import Config
from writer.errors import WriterError
from writer.store import db, salvage
from writer.store.core import StoreCore
from writer.store.models import StoreWriteError
from writer.store.rows import unreadable_drafts_warning


@dataclass
class Opened:
    """What opening found: the core, and what to tell the user about it."""

    core: StoreCore
    #: Where an unusable database was moved on open, or None.
    recovered: Path | None = None
    salvage_report: salvage.SalvageReport | None = None
    #: Why the store could only be opened read-only (every write fails), or None.
    read_only: str | None = None
    #: One-line problems found at open besides recovery (e.g. unreadable drafts).
    warnings: list[str] = field(default_factory=list)

    @property
    def salvaged(self) -> int:
        """How many drafts were salvaged from the moved-aside database."""
        return self.salvage_report.drafts if self.salvage_report is not None else 0

    def message(self) -> str | None:
        """One line telling the user what was found wrong at open, or None."""
        lines = list(self.warnings)
        if self.recovered is not None:
            lines.insert(0, salvage.describe(self.recovered, self.salvage_report))
        return "; ".join(lines) or None


def open_core(
    path: Path | None = None,
    *,
    config: Config | None = None,
    clock: Callable[[], float] | None = None,
    read_only_ok: bool = False,
) -> Opened:
    """Open the database at `path` (default: writer.paths.database_path()), creating it; see
    DraftStore.open for what is recovered and when it raises."""
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
        return _open_read_only(path, exc, config=config, clock=clock)
    opened = Opened(StoreCore(conn, path, config=config, clock=clock), recovered=recovered)
    if was_empty:
        opened.warnings.append(
            f"the drafts database {path} was empty (0 bytes; truncated or replaced?), so "
            "no drafts could be read from it and a new one was started; restore it from a "
            "backup if you have one"
        )
    if recovered is not None:
        opened.salvage_report = _salvage(opened.core, recovered)
    _note_bad_rows(opened)
    return opened


def _open_read_only(
    path: Path, why: StoreWriteError, *, config: Config | None, clock: Callable[[], float]
) -> Opened:
    damaged = False
    try:
        conn = db.open_read_only(path)
    except (sqlite3.Error, OSError):
        # Damaged and cannot be moved aside: salvage into memory, so reading still works.
        conn, damaged = db.memory_copy(b""), True
        db.migrate(conn, path)
    core = StoreCore(conn, path, config=config, clock=clock, watch_file=False)
    opened = Opened(core, read_only=str(why))
    if damaged:
        report = salvage.SalvageReport()
        with contextlib.suppress(Exception), opened.core.write() as writable:
            report = salvage.restore_into(writable, salvage.salvage(path), clock())
        conn.execute("PRAGMA query_only = ON")
        opened.warnings.append(
            f"{why}; the database is also damaged: showing the {report.drafts} draft(s) "
            "salvaged from it, read-only"
        )
    else:
        opened.warnings.append(f"{why}; showing the drafts read-only")
    _note_bad_rows(opened)
    return opened


def _salvage(core: StoreCore, moved: Path) -> salvage.SalvageReport:
    """Copy everything still readable in the moved-aside database into the fresh one (same
    IDs), each draft with a "recovered" revision. A failure only means less salvaged."""
    found = salvage.salvage(moved)
    try:
        with core.write() as conn:
            return salvage.restore_into(conn, found, core.now())
    except Exception:  # a damaged file must never keep the fresh store from opening
        return salvage.SalvageReport(empty_file=found.empty_file)


def _note_bad_rows(opened: Opened) -> None:
    """Drafts whose text is not text are skipped by listings; say so once, at open."""
    with contextlib.suppress(WriterError), opened.core.read() as conn:
        warning = unreadable_drafts_warning(conn)
        if warning:
            opened.warnings.append(warning)
