"""DraftStore: drafts and their revisions, with collaborators for the rest of the database.

    store.generations   GenerationLog   the generation log (generations.py)
    store.context       StoryContexts   each draft's story context (context.py)
    store.chats         ChatLog         chats with a draft's characters (chats.py)
    store.judgments     JudgmentLog     blind comparisons (judgments.py)
    store.recall        RecallIndex     each draft's recall index (recall.py), kept current here:
                                        `save_text` (the autosave), creating, importing and
                                        restoring update it in the same transaction (only the
                                        changed paragraphs); deleting a draft forgets it

Each collaborator is handed the same StoreCore (core.py: connection, transactions, draft and
revision rows); opening and recovery are opening.py's. Every write is one transaction (see
db.write_transaction); a failed write raises StoreWriteError and changes nothing, so the caller
keeps its text and retries. All methods are thread-safe (one lock serialises them): the app's
autosave calls `save_text` from a worker thread (its timer takes a snapshot of the text on the
UI thread), its other saves run on the UI thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from writer.config import Config
from writer.errors import WriterError
from writer.store.chats import ChatLog
from writer.store.context import StoryContexts, add_front_matter, put_context, split_front_matter
from writer.store.generations import GenerationLog
from writer.store.judgments import JudgmentLog
from writer.store.locks import DraftLocks
from writer.store.models import REASONS, Draft, DraftSummary, Revision, word_count
from writer.store.opening import Opened, open_core
from writer.store.recall import RecallIndex
from writer.store.rows import (
    DRAFT_COLUMNS,
    BadRowError,
    as_text,
    draft_from_row,
    in_range,
    label,
    timestamp,
)
from writer.store.textio import (
    FORMATS,
    encodable,
    format_export,
    one_line,
    parse_import,
    parse_text,
)

_UNSET: Any = object()


def normalize_external(path: str | Path) -> str:
    """The key an external file is stored under: absolute, user-expanded, symlinks resolved."""
    return str(Path(path).expanduser().resolve())


class DraftStore:
    """The drafts database. Open with `DraftStore.open()`; close with `close()` (or `with`)."""

    def __init__(self, opened: Opened) -> None:
        core = opened.core
        #: The connection and transactions every part of the store shares (core.py).
        self.core = core
        self.path = core.path
        self._locks = DraftLocks(core.path.parent / "locks")
        self._opened = opened
        self.generations = GenerationLog(core)
        self.context = StoryContexts(core)
        self.chats = ChatLog(core)
        self.judgments = JudgmentLog(core)
        self.recall = RecallIndex(core.conn, core.lock)
        #: Where an unusable database was moved on open, or None.
        self.recovered = opened.recovered
        #: How many drafts were salvaged from it into this fresh store.
        self.salvaged = opened.salvaged
        #: Why the store could only be opened read-only (every write fails), or None.
        self.read_only = opened.read_only
        #: One-line problems found at open besides recovery (e.g. unreadable drafts).
        self.warnings = opened.warnings

    # -- opening and closing -------------------------------------------------------------------

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
        return cls(open_core(path, config=config, clock=clock, read_only_ok=read_only_ok))

    @property
    def recovery_message(self) -> str | None:
        """One line telling the user what was found wrong at open (a database moved aside and
        what was salvaged from it, unreadable drafts, read-only), or None."""
        return self._opened.message()

    def close(self) -> None:
        """Release every draft lock and close the database."""
        with self.core.lock:
            self._locks.release_all()
            self.core.close()

    def copy_to(self, path: Path) -> None:
        """Write a consistent copy of the whole database, as this connection sees it, to `path`
        (SQLite's online backup). For a database file deleted while open: the connection still
        reads the deleted file, so everything in it can be put back."""
        self.core.copy_to(path)

    def check_file(self) -> str | None:
        """Whether the database file is still the one this store writes: if it was deleted,
        truncated, or another file was moved onto its path, the database is written again from
        this store's connection (the file found there is moved aside, never deleted) and the
        line saying so is returned. Every write checks this first (two stat calls): the line
        of a rebuild a write made comes from `take_file_notices` instead. StoreWriteError if
        the database cannot be written again."""
        with self.core.lock:
            message = self.core.check_file()
            if message is not None:
                self.core.file_notices.remove(message)  # told here, not again
            return message

    def take_file_notices(self) -> list[str]:
        """The lines about the file being written again since the last call (each once)."""
        with self.core.lock:
            notices, self.core.file_notices = self.core.file_notices, []
        return notices

    def __enter__(self) -> DraftStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """core.write(); the recall index forgets what it remembered if it rolls back."""
        try:
            with self.core.write() as conn:
                yield conn
        except BaseException:
            self.recall.invalidate()
            raise

    def _index(self, draft_id: int, text: str) -> None:
        """The draft's recall index brought up to `text`, inside the save's transaction.
        Derived data: a failure here never fails the save (the next one catches up)."""
        try:
            self.recall.update(draft_id, encodable(text))
        except sqlite3.Error:
            pass

    @property
    def revision_interval(self) -> float:
        return self.core.revision_interval

    @property
    def revisions_keep(self) -> int:
        return self.core.revisions_keep

    # -- drafts --------------------------------------------------------------------------------

    def create_draft(
        self,
        title: str = "",
        text: str = "",
        *,
        preset: str | None = None,
        overrides: dict[str, Any] | None = None,
        model: str | None = None,
        external_path: str | Path | None = None,
    ) -> Draft:
        """A new draft; a non-empty `text` is also recorded as its first revision ("create")."""
        now = self.core.now()
        title, text = encodable(title), encodable(text)
        ext = normalize_external(external_path) if external_path is not None else None
        with self._writing() as conn:
            cur = conn.execute(
                "INSERT INTO drafts (title, text, created, updated, preset, overrides, model, "
                "external_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (one_line(title), text, now, now, preset, json.dumps(overrides or {}), model, ext),
            )
            draft_id = int(cur.lastrowid)
            if text:
                self.core.add_revision(conn, draft_id, text, "create", now)
                self._index(draft_id, text)
            return draft_from_row(self.core.draft_row(conn, draft_id))

    def get_draft(self, draft_id: int) -> Draft:
        """The draft, or WriterError naming the ID."""
        with self.core.read() as conn:
            return draft_from_row(self.core.draft_row(conn, draft_id))

    def list_drafts(self) -> list[DraftSummary]:
        """Every draft, most recently edited first."""
        with self.core.read() as conn:
            rows = conn.execute(
                "SELECT id, title, text, updated, external_path FROM drafts "
                "ORDER BY updated DESC, id DESC"
            ).fetchall()
        summaries = []
        for r in rows:
            text = as_text(r[2])
            if text is None:
                continue  # reported once at open (warnings); get_draft says why
            d = draft_from_row((r[0], r[1], text, 0, r[3], None, None, None, 0, 0, r[4]))
            summaries.append(DraftSummary(d.id, d.title, word_count(text), d.updated, r[4]))
        return summaries

    def last_draft(self, *, with_files: bool = False) -> Draft | None:
        """The most recently edited draft, or None; not one tied to an external file unless
        `with_files` (what `writer` with no file reopens: the draft or file edited last)."""
        where = "" if with_files else "WHERE external_path IS NULL "
        with self.core.read() as conn:
            rows = conn.execute(
                f"SELECT {DRAFT_COLUMNS} FROM drafts {where}ORDER BY updated DESC, id DESC"
            )
            for row in rows:
                try:
                    return draft_from_row(row)
                except BadRowError:
                    continue  # an unreadable draft must not block every start
        return None

    def find_by_external_path(self, path: str | Path) -> Draft | None:
        """The draft that shadows external file `path` (compared after resolving), or None."""
        with self.core.read() as conn:
            rows = conn.execute(
                f"SELECT {DRAFT_COLUMNS} FROM drafts WHERE external_path = ? ORDER BY updated DESC",
                (normalize_external(path),),
            )
            for row in rows:
                try:
                    return draft_from_row(row)
                except BadRowError:
                    continue
        return None

    def save_text(
        self,
        draft_id: int,
        text: str,
        cursor: tuple[int, int] | None = None,
        scroll: int | None = None,
    ) -> None:
        """The autosave: store `text` (and the cursor and scroll line) in one transaction,
        with the draft's recall index brought up to it (on a 1 MB draft about 20 ms more: the
        app autosaves on a worker thread). `save_revision`, which the app calls on its UI
        thread, leaves the index to the next autosave.

        Feeds revision coalescing: the text being replaced becomes an "auto" revision at most
        once per `revision_interval` of activity, or when this save deletes a large piece.
        """
        now = self.core.now()
        with self._writing() as conn:
            row = self.core.draft_row(conn, draft_id)
            self.core.replace_text(
                conn, row, text, now, force_snapshot=False, cursor=cursor, scroll=scroll
            )
            self._index(draft_id, text)

    def rename_draft(self, draft_id: int, title: str) -> None:
        """Set the title (collapsed to one line)."""
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            conn.execute(
                "UPDATE drafts SET title = ?, updated = ? WHERE id = ?",
                (one_line(encodable(title)), self.core.now(), int(draft_id)),
            )

    def delete_draft(self, draft_id: int) -> None:
        """Delete a draft with its revisions and generation log."""
        with self._writing() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            conn.execute("DELETE FROM drafts WHERE id = ?", (int(draft_id),))
            try:
                self.recall.forget(draft_id)
            except sqlite3.Error:
                pass  # a damaged index must not keep a draft; salvage rebuilds without it

    def set_draft_settings(
        self,
        draft_id: int,
        *,
        preset: str | None = _UNSET,
        overrides: dict[str, Any] | None = _UNSET,
        model: str | None = _UNSET,
    ) -> None:
        """Change the draft's preset / parameter overrides / model; omitted ones stay, None
        clears."""
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id)
            if preset is not _UNSET:
                conn.execute("UPDATE drafts SET preset = ? WHERE id = ?", (preset, int(draft_id)))
            if overrides is not _UNSET:
                conn.execute(
                    "UPDATE drafts SET overrides = ? WHERE id = ?",
                    (json.dumps(overrides or {}), int(draft_id)),
                )
            if model is not _UNSET:
                conn.execute("UPDATE drafts SET model = ? WHERE id = ?", (model, int(draft_id)))

    def set_position(self, draft_id: int, cursor: tuple[int, int], scroll: int) -> None:
        """Where the author left off: the cursor (row, column) and the first visible line.
        Not an edit, so `updated` (the library's order) stays."""
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            conn.execute(
                "UPDATE drafts SET cursor_row = ?, cursor_col = ?, scroll_row = ? WHERE id = ?",
                (
                    max(0, int(cursor[0])),
                    max(0, int(cursor[1])),
                    max(0, int(scroll)),
                    int(draft_id),
                ),
            )

    def set_word_goal(self, draft_id: int, goal: int | None) -> None:
        """The draft's target length in words; None (or 0) clears it."""
        if goal is not None and not 0 <= int(goal) < 2**31:
            raise WriterError(f"a word goal must be a whole number from 1 to {2**31 - 1}")
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            conn.execute(
                "UPDATE drafts SET word_goal = ? WHERE id = ?",
                (int(goal or 0) or None, int(draft_id)),
            )

    def set_external_path(self, draft_id: int, path: str | Path | None) -> None:
        """Tie the draft to an external file (or untie it with None)."""
        ext = normalize_external(path) if path is not None else None
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id)
            conn.execute("UPDATE drafts SET external_path = ? WHERE id = ?", (ext, int(draft_id)))

    # -- revisions -----------------------------------------------------------------------------

    def save_revision(self, draft_id: int, text: str, reason: str) -> int:
        """Save `text` as the draft's text AND record it as a revision with `reason` (one of
        models.REASONS, e.g. "insert", "external-save", "quit"); returns the revision ID.

        The text it replaces is kept as an "auto" revision first unless history already has it.
        """
        if reason not in REASONS:
            raise ValueError(f"unknown revision reason {reason!r}; known: {', '.join(REASONS)}")
        now = self.core.now()
        text = encodable(text)
        with self._writing() as conn:
            row = self.core.draft_row(conn, draft_id)
            self.core.replace_text(conn, row, text, now, force_snapshot=True)
            return self.core.add_revision(conn, int(draft_id), text, reason, now)

    def history(self, draft_id: int) -> list[Revision]:
        """The draft's revisions, newest first, without their texts (`get_revision` loads one):
        word counts and previews are stored with each revision, so no text is rebuilt."""
        with self.core.read() as conn:
            self.core.draft_row(
                conn, draft_id, readable=False
            )  # a bad text must not hide its history
            names = {r[1] for r in conn.execute("PRAGMA table_info(revisions)")}
            # A plain row's text (a few KB at most) is read to check it is text; a delta is
            # checked when it is shown. An old database opened read-only lacks the columns.
            summary = "words, preview" if "preview" in names else "NULL, NULL"
            rows = conn.execute(
                "SELECT id, draft_id, created, reason, "
                f"{'CASE WHEN base_id IS NULL THEN text END' if 'delta' in names else 'text'}, "
                f"{self.core.packed_columns(conn)}, {summary} FROM revisions WHERE draft_id = ? "
                "ORDER BY id DESC",
                (int(draft_id),),
            ).fetchall()
            listed = []
            for r in rows:
                words, line = r[7], r[8]
                if r[5] is None and as_text(r[4]) is None:
                    continue  # one unreadable revision must not hide the others
                if not isinstance(words, int) or not isinstance(line, str):
                    try:  # not summarised when written (an old or damaged row): rebuild it
                        full = self.core.revision(conn, r[:7])
                    except BadRowError:
                        continue
                    words, line = full.words, full.preview
                listed.append(Revision(r[0], r[1], timestamp(r[2]), words, label(r[3]), line, None))
        return listed

    def get_revision(self, revision_id: int) -> Revision:
        """One revision with its text, or WriterError."""
        r = None
        if in_range(int(revision_id)):
            with self.core.read() as conn:
                r = conn.execute(
                    "SELECT id, draft_id, created, reason, text, "
                    f"{self.core.packed_columns(conn)} FROM revisions WHERE id = ?",
                    (int(revision_id),),
                ).fetchone()
                if r is not None:
                    return self.core.revision(conn, r)
        raise WriterError(
            f"no revision with ID {revision_id}; see `writer drafts history DRAFT_ID`"
        )

    def restore_revision(self, draft_id: int, revision_id: int) -> Draft:
        """Make an older revision the draft's text. The replaced text is kept ("before-restore")
        and the restore is itself a revision ("restore"), so it can be undone from history."""
        revision = self.get_revision(revision_id)
        if revision.draft_id != int(draft_id):
            raise WriterError(
                f"revision {revision_id} belongs to draft {revision.draft_id}, not {draft_id}; "
                f"see `writer drafts history {draft_id}`"
            )
        now = self.core.now()
        with self._writing() as conn:
            # Not `readable`: restoring is how a draft with an unreadable text is repaired.
            row = self.core.draft_row(conn, draft_id, readable=False)
            latest = self.core.latest_revision(conn, int(draft_id))
            old = as_text(row[2]) or ""
            if old != revision.text and old.strip() and (not latest or latest[1] != old):
                self.core.add_revision(conn, int(draft_id), old, "before-restore", now)
            conn.execute(
                "UPDATE drafts SET text = ?, updated = ? WHERE id = ?",
                (revision.text, now, int(draft_id)),
            )
            self.core.add_revision(conn, int(draft_id), revision.text, "restore", now)
            self._index(draft_id, revision.text)
            return draft_from_row(self.core.draft_row(conn, draft_id))

    # -- files ---------------------------------------------------------------------------------

    def export_draft(self, draft_id: int, fmt: str = "md", revision_id: int | None = None) -> str:
        """The draft (or one of its revisions) as file contents: "md" or "txt"."""
        if fmt not in FORMATS:
            raise WriterError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
        draft = self.get_draft(draft_id)
        text = draft.text
        if revision_id is not None:
            revision = self.get_revision(revision_id)
            if revision.draft_id != draft.id:
                raise WriterError(f"revision {revision_id} is not from draft {draft.id}")
            text = revision.text
        content = format_export(draft.title, text, fmt)
        # Markdown carries the story context as front matter; plain text stays just the text.
        return add_front_matter(content, self.context.load(draft.id)) if fmt == "md" else content

    def import_file(self, path: str | Path) -> Draft:
        """A new draft from a UTF-8 text file (title from its leading heading, else its name),
        recorded as an "import" revision. Bad files raise a one-line WriterError."""
        title, text = parse_import(Path(path))
        context, text = split_front_matter(text, f"cannot import {path}")
        if context is not None:  # the title heading follows the front matter
            title, text = parse_text(text, title)
        now = self.core.now()
        with self._writing() as conn:
            cur = conn.execute(
                "INSERT INTO drafts (title, text, created, updated) VALUES (?, ?, ?, ?)",
                (title, text, now, now),
            )
            draft_id = int(cur.lastrowid)
            self.core.add_revision(conn, draft_id, text, "import", now)
            self._index(draft_id, text)
            if context is not None:
                put_context(conn, draft_id, context)
            return draft_from_row(self.core.draft_row(conn, draft_id))

    # -- two instances -------------------------------------------------------------------------

    def acquire_lock(self, draft_id: int) -> bool:
        """Claim the draft for this process. False: another writer has it open, and the app
        should open it read-only (or let the user choose). The claim dies with the process,
        kill -9 included."""
        with self.core.lock:
            return self._locks.acquire(int(draft_id))

    def release_lock(self, draft_id: int) -> None:
        """Give up the claim on a draft (no-op when not held)."""
        with self.core.lock:
            self._locks.release(int(draft_id))

    def lock_owner(self, draft_id: int) -> int | None:
        """PID of the other process that holds the draft, when known; None if free or ours."""
        with self.core.lock:
            return self._locks.owner(int(draft_id))
