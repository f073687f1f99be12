"""Typed keys that arrive in a burst, inserted as a few edits with the undo steps of single keys.

A terminal without bracketed paste delivers a paste as one key event per character. TextArea
inserts each one on its own, and every insertion re-wraps the line it lands in, recounts the
wrapped height of the whole document and posts a Changed message: a 2,000-word paste into a
paragraph cost tens of seconds (bench/manuscript.py). StoryEditor holds back typed characters
while more typed keys wait in its message queue and inserts them together (see
`StoryEditor._on_key`), as runs of `TypedRun` edits that `TypingHistory` records exactly as it
would have recorded the characters one at a time: the same undo steps (a new one after a
newline, every `checkpoint_max_characters` characters, after a pause or a cursor move), so ctrl+z
behaves as it did when each key was inserted alone.
"""

from __future__ import annotations

from textual.widgets.text_area import Edit, EditHistory


class TypedRun(Edit):
    """Characters typed one after another (no newline), inserted at the cursor as one edit."""


class TypingHistory(EditHistory):
    """Textual's undo history, which also records a `TypedRun` as its characters one by one.

    A run is never longer than `typed_room()`, so only its first character can start a new
    undo batch (by EditHistory.record's rules for a single typed character); the others join it.
    """

    _run_starts_batch: bool | None = None  # decided by typed_room for the run recorded next

    def _typed_key_starts_batch(self) -> bool:
        """Whether one more typed character (an insertion without newline) starts a new batch:
        EditHistory.record's conditions for such an edit."""
        return (
            not self._undo_stack
            or self._force_end_batch
            or self._previously_replaced  # the last edit replaced text; this one inserts
            or self._get_time() - self._last_edit_time > self.checkpoint_timer
            or self._character_count + 1 > self.checkpoint_max_characters
        )

    def typed_room(self) -> int:
        """How many characters typed from now on would land in one undo batch."""
        starts = self._typed_key_starts_batch()
        self._run_starts_batch = starts
        if starts:
            return self.checkpoint_max_characters
        return self.checkpoint_max_characters - self._character_count

    def record(self, edit: Edit) -> None:
        if not isinstance(edit, TypedRun):
            self._run_starts_batch = None
            super().record(edit)
            return
        starts = self._run_starts_batch
        if starts is None:
            starts = self._typed_key_starts_batch()
        self._run_starts_batch = None
        characters = len(edit.text)
        if starts:
            self._undo_stack.append([edit])
            self._character_count = characters
            self._force_end_batch = False
        else:
            self._undo_stack[-1].append(edit)
            self._character_count += characters
        # Unlike a multi-character edit (a paste), typing goes on in the same batch: no
        # checkpoint after it.
        self._last_edit_time = self._get_time()
        self._previously_replaced = False
        self._redo_stack.clear()
