"""DraftSession: the open draft's saving, as plain Python (no Textual), so it is testable alone.

It owns what keeps the author's text safe: the store and draft, the external file if any, whether
the text is dirty, when autosave is due, why the last save (of the store or of the file) failed
and when to retry, and whether the file changed on disk. The screen drives it (`edited` on each
keystroke, `autosave_due` from a timer) and shows what it reports: `state` for the status bar and
`take_notices()` for notifications. The store is written first, always; the file after.

The timer's autosave writes off the UI thread: the screen takes a `snapshot` of the text there,
a worker thread passes it to `write_snapshot` (the store's diff and write, then the file's), and
the UI thread applies the outcome with `snapshot_written`. `lock` keeps one writer at a time, and
`saved_through` (the edit count the store has) makes a snapshot that a newer save overtook a
no-op, so the store never goes back to older text. Every other save (`save`, and any direct
write of the text wrapped in `writing()`) runs on the UI thread under the same lock.

Timing (measured by the kill -9 tests): autosave once typing pauses for `autosave_interval`, and
at the latest MAX_UNSAVED_S after the first unsaved keystroke, so a kill -9 loses under 2 s.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from writer.errors import WriterError, error_line
from writer.store.rescue import RescueFile

MAX_UNSAVED_S = 1.5  # save at the latest this long after the first unsaved change
RETRY_S = 5.0  # after a failed save (of the store or the file), try again this often
POSITION_S = 2.0  # a cursor moved without typing is recorded at most this often

SaveState = Literal[
    "saved", "unsaved", "save failed", "read-only", "file changed on disk", "file not saved"
]
Severity = Literal["information", "warning", "error"]


TITLE_CHARS = 60  # a title taken from the text: its first line, cut at a word near here


def title_from_text(text: str) -> str:
    """A new draft's title from its text: the first heading, else the first line (idea notes
    skipped), without Markdown's `#`s, cut at a word; "" while there is none."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("[Idea: ")]
    heading = next((line for line in lines if line.startswith("#")), None)
    first = (heading or (lines[0] if lines else "")).lstrip("#").strip()
    if len(first) > TITLE_CHARS:
        first = first[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return first


@dataclass(frozen=True)
class Notice:
    """Something the user must be told (the screen shows it as a notification)."""

    message: str
    severity: Severity = "information"
    title: str = ""
    timeout: float = 5.0


@dataclass(frozen=True)
class Snapshot:
    """The text to autosave, as the UI thread saw it (a worker writes it)."""

    text: str
    cursor: tuple[int, int]
    scroll: int
    edits: int  # the session's edit count when it was taken
    taken_at: float
    store: Any
    draft_id: int
    external: Any


FileOutcome = Literal["", "written", "changed", "failed"]


@dataclass(frozen=True)
class SnapshotWritten:
    """What came of writing a snapshot (made on the worker, applied on the UI thread)."""

    snapshot: Snapshot
    skipped: bool = False  # a newer save came first: nothing was written
    store_error: str = ""
    rescued: Path | None = None  # where the text went when the store could not take it
    file: FileOutcome = ""
    file_error: str = ""


class DraftSession:
    """The open draft (a store draft, possibly tied to an external file) and its saving."""

    def __init__(
        self,
        open_store: Callable[[], Any],
        *,
        autosave_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        key_for: Callable[[str], str] | None = None,
    ) -> None:
        """`key_for(action)`: the key the writing screen binds to `action`, for notices (read
        from its bindings; without it, notices name the action's place instead)."""
        self._open_store = open_store
        self._key_for = key_for
        self.autosave_interval = autosave_interval
        self._clock = clock
        self.store: Any = None
        self.draft: Any = None
        self.external: Any = None  # writer.external.ExternalFile of the open file, if any
        self.file: Path | None = None
        self.read_only = False
        self.dirty = False
        self._dirty_since = 0.0
        self._last_change = 0.0
        self.save_error = ""  # why the last store save failed ("" when it did not)
        self.retry_at = 0.0
        self.conflict = False  # the file changed on disk (or differs from writer's text)
        self.file_error = ""  # why the last write of the file failed
        self.file_retry_at = 0.0
        self.new_draft_title = ""  # title of the draft made on the first save, if none yet
        self._auto_title = ""  # the title this session gave an untitled draft
        self._notices: list[Notice] = []
        self._position: tuple[tuple[int, int], int] | None = None  # last one recorded
        self._position_at = float("-inf")
        self.lock = threading.RLock()  # one writer of the text at a time (UI thread or worker)
        self.edits = 0  # edits so far; a snapshot is known by this count
        self.saved_through = 0  # the edit count whose text the store has
        # Where the text goes when the store cannot take it (writer.store.rescue), rewritten
        # on failed saves at most every RESCUE_EVERY_S; `_told_rescue` is the one last shown.
        self.rescue = RescueFile(clock=clock)
        self._rescue_owner: tuple[Any, Path | None] = (None, None)  # (draft ID, file) rescued
        self._told_rescue: Path | None = None

    # -- what the screen shows ------------------------------------------------------------------
    def tell(self, message: str, severity: Severity = "information", **kw: Any) -> None:
        self._notices.append(Notice(message, severity, **kw))

    def take_notices(self) -> list[Notice]:
        """The notices since the last call (the screen shows each once)."""
        notices, self._notices = self._notices, []
        return notices

    @property
    def state(self) -> SaveState:
        """The status bar's save state, from the most serious condition down."""
        if self.read_only:
            return "read-only"
        if self.save_error:
            return "save failed"
        if self.dirty:
            return "unsaved"
        if self.external is not None and self.conflict:
            return "file changed on disk"
        if self.external is not None and self.file_error:
            return "file not saved"
        return "saved"

    @property
    def file_in_step(self) -> bool:
        """False while the external file lacks the text the store has."""
        return self.external is None or not (self.conflict or self.file_error)

    # -- editing and autosave -------------------------------------------------------------------
    def loaded(self) -> None:
        """The editor now shows the draft's saved text."""
        self.dirty = False

    def edited(self) -> None:
        """The text changed (a keystroke, an insertion, an undo)."""
        now = self._clock()
        if not self.dirty:
            self._dirty_since = now
        self.dirty = True
        self._last_change = now
        self.edits += 1

    def autosave_due(self) -> bool:
        """Whether the timer should save now: typing paused, or unsaved for too long; not while
        a failed save waits for its retry."""
        if not self.dirty or self.read_only:
            return False
        now = self._clock()
        if now < self.retry_at:
            return False
        idle = now - self._last_change >= self.autosave_interval
        return idle or now - self._dirty_since >= MAX_UNSAVED_S

    def file_retry_due(self) -> bool:
        return (
            self.external is not None
            and bool(self.file_error)
            and not self.conflict
            and not self.dirty
            and self._clock() >= self.file_retry_at
        )

    # -- saving ---------------------------------------------------------------------------------
    def save(
        self,
        text: str,
        cursor: tuple[int, int] | None = None,
        reason: str | None = None,
        scroll: int | None = None,
    ) -> bool:
        """Save `text`: the store first, then the external file if any. False when the store
        could not take it (the text stays the caller's; retried after RETRY_S). A file that
        could not be written is reported by `state` and `file_in_step`; its text is safe."""
        if self.read_only:
            return True
        if not self.dirty and reason is None:
            return True
        edits = self.edits
        with self.lock:
            try:
                if self.store is None:
                    self.store = self._open_store()
                if self.draft is None:
                    self.create_draft_for(text)
                if reason is not None:
                    self.store.save_revision(self.draft.id, text, reason)
                else:
                    self.store.save_text(self.draft.id, text, cursor, scroll)
                    if cursor is not None and scroll is not None:
                        self._position, self._position_at = (tuple(cursor), scroll), self._clock()
            except (WriterError, OSError) as exc:
                self.store_failed(error_line(exc), self.rescue_text(text))
                return False
            self.saved_through = max(self.saved_through, edits)
            self.dirty = False
            self._saved_again()
            if self.external is not None:
                self.write_file(text)
        return True

    def _saved_again(self) -> None:
        if self.save_error:
            self.save_error = ""
            copy = self.rescue.path
            extra = f" (the rescue copy {copy} is no longer needed)" if copy else ""
            self.tell(f"Saved again: your text is safe{extra}.", title="Saved")
        self.rescue.forget()
        self._told_rescue = None

    # -- when the store cannot take the text ----------------------------------------------------
    def rescue_text(self, text: str, *, now: bool = False) -> Path | None:
        """Write `text` to the draft's rescue file if one is due (at most every
        RESCUE_EVERY_S; `now`: at once, as before exiting); the rescue file's path, or None
        when none could be written."""
        with self.lock:
            owner = (getattr(self.draft, "id", None), self.file)
            if owner != self._rescue_owner:  # another draft: never over the last one's copy
                self.rescue.forget()
                self._rescue_owner = owner
            if now or self.rescue.due():
                return self.rescue.write(text, self._rescue_title(), self.file)
            return self.rescue.path

    def _rescue_title(self) -> str:
        if self.draft is not None:
            return str(self.draft.display_title)
        if self.file is not None:
            return self.file.stem
        return self.new_draft_title or "untitled"

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write of the editor's current text to the store made outside `save` (an
        insertion's revision, a restore, a recovered database): an autosave snapshot taken
        before it is then never written over it."""
        with self.lock:
            yield
            self.saved_through = max(self.saved_through, self.edits)

    # -- autosave off the UI thread -------------------------------------------------------------
    def snapshot(self, text: str, cursor: tuple[int, int], scroll: int) -> Snapshot | None:
        """UI thread: what the timer's autosave should write, for `write_snapshot` on a worker;
        None when the save must run here (`save`), i.e. there is no store or draft yet."""
        if self.store is None or self.draft is None or self.read_only:
            return None
        return Snapshot(
            text,
            tuple(cursor),
            scroll,
            self.edits,
            self._clock(),
            self.store,
            self.draft.id,
            self.external,
        )

    def write_snapshot(self, snap: Snapshot) -> SnapshotWritten:
        """Worker thread: the store (the diff against its text, the write), then the file.
        Changes nothing of the session but `saved_through`; `snapshot_written` applies the
        rest on the UI thread."""
        from writer.external import ExternalChangedError

        with self.lock:
            if self.saved_through >= snap.edits:
                return SnapshotWritten(snap, skipped=True)
            try:
                snap.store.save_text(snap.draft_id, snap.text, snap.cursor, snap.scroll)
            except Exception as exc:  # reported like any failed save; the text is still here
                rescued = self.rescue_text(snap.text)
                return SnapshotWritten(snap, store_error=error_line(exc), rescued=rescued)
            self.saved_through = snap.edits
            if snap.external is None or self.conflict:
                return SnapshotWritten(snap)
            try:
                if snap.external.changed_on_disk():
                    raise ExternalChangedError(str(snap.external.path))
                snap.external.save(snap.text)
            except ExternalChangedError:
                return SnapshotWritten(snap, file="changed")
            except Exception as exc:
                return SnapshotWritten(snap, file="failed", file_error=error_line(exc))
            return SnapshotWritten(snap, file="written")

    def _name_untitled(self, text: str) -> None:
        """An untitled draft of the library's own takes its title from its text once it has
        a first line, and follows that line while this session named it (a title the author
        gave stays). A failure leaves the title as it was: the text itself is saved."""
        draft = self.draft
        if draft is None or draft.external_path or self.store is None:
            return
        if draft.title and draft.title != self._auto_title:
            return
        title = title_from_text(text)
        if not title or title == draft.title:
            return
        self._auto_title = title
        try:
            self.store.rename_draft(draft.id, title)
        except (WriterError, OSError):
            return
        self.draft = dataclasses.replace(draft, title=title)

    def snapshot_written(self, result: SnapshotWritten) -> None:
        """UI thread: apply what came of a snapshot's write (state and notices)."""
        snap = result.snapshot
        if result.skipped or self.draft is None or self.draft.id != snap.draft_id:
            return  # a newer save has the text (or another draft is open since)
        if result.store_error:
            if self.saved_through < snap.edits:  # no later save has the text either
                self.store_failed(result.store_error, result.rescued)
            return
        if self.edits == snap.edits:
            self.dirty = False
        else:  # typed on meanwhile: unsaved since the snapshot at the earliest
            self._dirty_since = max(self._dirty_since, snap.taken_at)
        self._position, self._position_at = (snap.cursor, snap.scroll), self._clock()
        self._name_untitled(snap.text)
        self._saved_again()
        if snap.external is not self.external:
            return  # another file (or none) is open now
        if result.file == "changed":
            self._file_changed()
        elif result.file == "failed":
            self.file_failed(result.file_error)
        elif result.file == "written":
            self._file_written()

    # -- where the author left off -------------------------------------------------------------
    def position_due(self, cursor: tuple[int, int], scroll: int) -> bool:
        """Whether a cursor or scroll moved without typing should be recorded now (throttled)."""
        return (
            tuple(cursor),
            scroll,
        ) != self._position and self._clock() - self._position_at >= POSITION_S

    def remember_position(self, cursor: tuple[int, int], scroll: int) -> None:
        """Record where the author is, for the next open. A courtesy: a failure is not shown
        (the text's own saves report a broken store)."""
        position = (tuple(cursor), scroll)
        if self.read_only or self.store is None or self.draft is None or position == self._position:
            return
        self._position, self._position_at = position, self._clock()
        try:
            self.store.set_position(self.draft.id, cursor, scroll)
        except (WriterError, OSError):
            pass

    def opened_at(self, cursor: tuple[int, int], scroll: int) -> None:
        """The draft was just shown there: nothing new to record."""
        self._position, self._position_at = (tuple(cursor), scroll), self._clock()

    def create_draft_for(self, text: str) -> None:
        """The first save of text that has no draft yet (the store or the file was unusable)."""
        if self.external is not None:  # the store was unusable when the file was opened
            self.draft = self.store.create_draft(
                self.external.path.name, text, external_path=self.external.path
            )
        else:
            self.draft = self.store.create_draft(self.new_draft_title, text)
            if self.new_draft_title:
                self.tell(
                    f"Your text is saved as a new draft, “{self.draft.display_title}” "
                    f"({self._key('drafts', 'the drafts library')}).",
                    title="Saved",
                    timeout=10,
                )
        self.store.acquire_lock(self.draft.id)

    def store_failed(self, reason: str, rescued: Path | None = None) -> None:
        """A save the store could not take: retry later, and say so (once, and again when the
        text's rescue copy is first written somewhere)."""
        first = not self.save_error
        self.save_error = reason
        self.retry_at = self._clock() + RETRY_S
        if first or (rescued is not None and rescued != self._told_rescue):
            self._told_rescue = rescued
            self.tell(failure_message(reason, rescued), "error", title="Not saved", timeout=15)

    def write_file(self, text: str) -> bool:
        """Write the external file unless it changed on disk; False when it was not written."""
        if self.conflict:
            return False
        with self.lock:
            return self._write_file(text)

    def _write_file(self, text: str) -> bool:
        from writer.external import ExternalChangedError

        try:
            if self.external.changed_on_disk():
                raise ExternalChangedError(str(self.file))
            self.external.save(text)
        except ExternalChangedError:
            self._file_changed()
            return False
        except (WriterError, OSError) as exc:
            self.file_failed(error_line(exc))
            return False
        self._file_written()
        return True

    def _key(self, action: str, otherwise: str) -> str:
        return self._key_for(action) if self._key_for is not None else otherwise

    def _file_changed(self) -> None:
        self.conflict = True
        self.tell(
            f"{self.file} changed on disk since it was opened, so it was not overwritten. "
            f"Your text is kept in the drafts store; press {self._key('app.save', 'Save')} to "
            "choose what to do.",
            "warning",
            title="File changed",
            timeout=15,
        )

    def _file_written(self) -> None:
        if self.file_error:
            self.file_error = ""
            self.tell(f"{self.file.name} is written again.", title="Saved")

    def file_failed(self, reason: str) -> None:
        first = not self.file_error
        self.file_error = reason
        self.file_retry_at = self._clock() + RETRY_S
        if first:
            self.tell(
                f"Could not write the file: {reason}. Your text is safe in writer's drafts "
                f"store; writing the file is retried every {RETRY_S:g} s.",
                "error",
                title="File not saved",
                timeout=15,
            )

    def forget_file(self) -> None:
        """No external file from now on (another draft, or a copy, is open)."""
        self.external, self.file = None, None
        self.conflict, self.file_error = False, ""


def failure_message(reason: str, rescued: Path | None) -> str:
    """What a failed save tells the author: where the text is safe, and what to do."""
    full = "disk is full" in reason or "disk full" in reason
    if full and rescued is not None:
        return f"disk full: your text is safe in {rescued}; free space and it will save"
    if full:
        return (
            f"disk full: your text is only here (no rescue copy could be written: {reason}); "
            "free space and it will save"
        )
    where = f"a copy is safe in {rescued}" if rescued else "no rescue copy could be written"
    return (
        f"Could not save: {reason}. Your text stays here ({where}); retrying every {RETRY_S:g} s."
    )
