"""Typed keys that arrive in a burst, inserted as one edit with the undo steps of single keys.

A terminal without bracketed paste delivers a paste as one key event per character. TextArea
inserts each one on its own, and every insertion re-wraps the line it lands in, recounts the
wrapped height of the whole document and posts a Changed message: a 2,000-word paste into a
paragraph cost tens of seconds (bench/manuscript.py). StoryEditor holds back typed characters
while more typed keys wait in its message queue and inserts them together (see
`StoryEditor._on_key`): each run without a newline as one `TypedRun` edit, which
`TypingHistory` records exactly as it would have recorded the characters one at a time: the
same undo steps (a new one after a newline, every `checkpoint_max_characters` characters, after
a pause or a cursor move), so ctrl+z behaves as it did when each key was inserted alone.
"""

from __future__ import annotations

from textual.document._document import EditResult
from textual.widgets.text_area import Edit, EditHistory, Selection


class TypedRun(Edit):
    """Characters typed one after another (no newline), inserted at the cursor as one edit."""


class TypingHistory(EditHistory):
    """Textual's undo history, which also records a `TypedRun` as its characters one by one.

    The run went into the document as one edit (one re-wrap of its line, one Changed); here it
    is cut into the pieces that single typed characters would have made up, each joining the
    last undo batch or starting a new one by EditHistory.record's rules for a typed character.
    """

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

    def record(self, edit: Edit) -> None:
        if not isinstance(edit, TypedRun):
            super().record(edit)
            return
        text, offset = edit.text, 0
        while offset < len(text):
            starts = self._typed_key_starts_batch()
            room = self.checkpoint_max_characters - (0 if starts else self._character_count)
            piece = text[offset : offset + room]
            part = edit if len(piece) == len(text) else _piece_of(edit, offset, piece)
            if starts:
                self._undo_stack.append([part])
                self._character_count = len(piece)
                self._force_end_batch = False
            else:
                self._undo_stack[-1].append(part)
                self._character_count += len(piece)
            offset += len(piece)
            # Unlike a multi-character edit (a paste), typing goes on in the same batch: no
            # checkpoint after it.
            self._last_edit_time = self._get_time()
            self._previously_replaced = False
        self._redo_stack.clear()


def _piece_of(run: TypedRun, offset: int, text: str) -> TypedRun:
    """The part of a performed run from `offset` on: an edit as if those characters had been
    inserted on their own (where they went, the cursor before and after), for undo and redo."""
    row, column = run.from_location
    start, end = (row, column + offset), (row, column + offset + len(text))
    piece = TypedRun(text, start, start, maintain_selection_offset=False)
    piece._original_selection = run._original_selection if offset == 0 else Selection.cursor(start)
    piece._updated_selection = Selection.cursor(end)
    piece._edit_result = EditResult(end_location=end, replaced_text="")
    return piece
