"""DraftSession: the open draft's saving, as plain Python (no Textual), so it is testable alone.

It owns what keeps the author's text safe: the store and draft, the external file if any, whether
the text is dirty, when autosave is due, why the last save (of the store or of the file) failed
and when to retry, and whether the file changed on disk. The screen drives it (`edited` on each
keystroke, `autosave_due` + `save` from a timer) and shows what it reports: `state` for the status
bar and `take_notices()` for notifications. The store is written first, always; the file after.

Timing (measured by the kill -9 tests): autosave once typing pauses for `autosave_interval`, and
at the latest MAX_UNSAVED_S after the first unsaved keystroke, so a kill -9 loses under 2 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from writer.errors import WriterError, error_line

MAX_UNSAVED_S = 1.5  # save at the latest this long after the first unsaved change
RETRY_S = 5.0  # after a failed save (of the store or the file), try again this often
POSITION_S = 2.0  # a cursor moved without typing is recorded at most this often

SaveState = Literal[
    "saved", "unsaved", "save failed", "read-only", "file changed on disk", "file not saved"
]
Severity = Literal["information", "warning", "error"]


@dataclass(frozen=True)
class Notice:
    """Something the user must be told (the screen shows it as a notification)."""

    message: str
    severity: Severity = "information"
    title: str = ""
    timeout: float = 5.0


class DraftSession:
    """The open draft (a store draft, possibly tied to an external file) and its saving."""

    def __init__(
        self,
        open_store: Callable[[], Any],
        *,
        autosave_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_store = open_store
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
        self._notices: list[Notice] = []
        self._position: tuple[tuple[int, int], int] | None = None  # last one recorded
        self._position_at = float("-inf")

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
            self.store_failed(error_line(exc))
            return False
        self.dirty = False
        if self.save_error:
            self.save_error = ""
            self.tell("Saved again: your text is safe.", title="Saved")
        if self.external is not None:
            self.write_file(text)
        return True

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
                    f"Your text is saved as a new draft, “{self.draft.display_title}” (ctrl+o).",
                    title="Saved",
                    timeout=10,
                )
        self.store.acquire_lock(self.draft.id)

    def store_failed(self, reason: str) -> None:
        first = not self.save_error
        self.save_error = reason
        self.retry_at = self._clock() + RETRY_S
        if first:
            self.tell(
                f"Could not save: {reason}. Your text stays here; retrying every {RETRY_S:g} s.",
                "error",
                title="Not saved",
                timeout=15,
            )

    def write_file(self, text: str) -> bool:
        """Write the external file unless it changed on disk; False when it was not written."""
        from writer.external import ExternalChangedError

        if self.conflict:
            return False
        try:
            if self.external.changed_on_disk():
                raise ExternalChangedError(str(self.file))
            self.external.save(text)
        except ExternalChangedError:
            self.conflict = True
            self.tell(
                f"{self.file} changed on disk since it was opened, so it was not overwritten. "
                "Your text is kept in the drafts store; press ctrl+s to choose what to do.",
                "warning",
                title="File changed",
                timeout=15,
            )
            return False
        except (WriterError, OSError) as exc:
            self.file_failed(error_line(exc))
            return False
        if self.file_error:
            self.file_error = ""
            self.tell(f"{self.file.name} is written again.", title="Saved")
        return True

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
