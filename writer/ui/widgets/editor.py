"""The story editor: a soft-wrapping TextArea with undo/redo and single-step insertions."""

from __future__ import annotations

import re

from textual.binding import Binding
from textual.widgets import TextArea

# A plot idea enters the text as a note on its own line, "[Idea: ...]". Notes are for the author,
# so they are left out of what the model reads (see `prompt_text`).
IDEA_NOTE_RE = re.compile(r"^\[Idea: .*\]\n?", re.MULTILINE)


def format_idea(text: str) -> str:
    """A chosen plot idea as the note that is inserted: one line, `[Idea: ...]`."""
    one_line = " ".join(text.split())
    return f"[Idea: {one_line}]"


def prompt_text(text: str) -> str:
    """The text the model continues: the story without the author's idea notes."""
    return IDEA_NOTE_RE.sub("", text)


class StoryEditor(TextArea):
    """The author's text. Tab leaves the editor (to the candidates), it does not indent."""

    DEFAULT_CSS = """
    StoryEditor {
        height: 1fr;
        border: none;
        padding: 0 2;
    }
    StoryEditor:focus {
        border: none;
    }
    """

    BINDINGS = [
        Binding("ctrl+home", "document_start", "Start", show=False),
        Binding("ctrl+end", "document_end", "End", show=False),
        Binding("ctrl+shift+home", "document_start(True)", show=False),
        Binding("ctrl+shift+end", "document_end(True)", show=False),
    ]

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(
            text,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            language=None,
            **kwargs,
        )

    def text_before_cursor(self) -> str:
        """Everything from the start of the story up to the cursor."""
        return self.get_text_range((0, 0), self.cursor_location)

    def insert_as_one_step(self, text: str) -> None:
        """Insert `text` at the cursor as a single undo step (also when it is one character).

        TextArea batches single typed characters into one undo step; checkpointing first keeps
        the insertion apart from the typing before it, and a multi-character edit always closes
        its own batch.
        """
        self.history.checkpoint()
        self.insert(text)
        self.history.checkpoint()

    def insert_idea(self, idea: str) -> None:
        """Insert an idea note on its own line at the cursor, as one undo step."""
        column = self.cursor_location[1]
        before = "\n" if column > 0 else ""
        self.insert_as_one_step(before + format_idea(idea) + "\n")

    def action_document_start(self, select: bool = False) -> None:
        """ctrl+home: the start of the story (with shift: select up to it)."""
        self.move_cursor((0, 0), select=select)

    def action_document_end(self, select: bool = False) -> None:
        """ctrl+end: the end of the story, where a returning author usually continues."""
        self.move_cursor(self.document.end, select=select)

    @property
    def position(self) -> tuple[tuple[int, int], int]:
        """Where the author is: the cursor (row, column) and the first visible line."""
        return self.cursor_location, round(self.scroll_offset.y)

    def restore_position(self, cursor: tuple[int, int] | None, scroll: int | None) -> None:
        """Put the cursor and the view back where they were; with no scroll recorded (a new
        file, a draft never reopened), at the end of the text. A position beyond the text (it
        changed outside writer) is clamped; the cursor is always left in view."""
        if scroll is None or cursor is None:
            self.move_cursor(self.document.end)
            self.call_after_refresh(self.scroll_cursor_visible)
            return
        last = self.document.line_count - 1
        row = min(max(0, cursor[0]), last)
        column = min(max(0, cursor[1]), len(self.document.get_line(row)))
        self.move_cursor((row, column), center=False)

        def scroll_back() -> None:
            self.scroll_to(y=scroll, animate=False, immediate=True)
            self.scroll_cursor_visible()

        # The view can only scroll once the wrapped text is laid out.
        self.call_after_refresh(scroll_back)
