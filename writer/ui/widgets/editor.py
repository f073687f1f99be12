"""The story editor: a soft-wrapping TextArea with undo/redo and single-step insertions, set as a
page: a centred column of `column` characters, Markdown at a glance in `.md` texts, and focus
mode's dimmed paragraphs (the styling of the lines drawn, see `page.py`)."""

from __future__ import annotations

import re
from typing import Protocol

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message_pump import MessagePumpClosed
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import Location, Selection

from writer.engine.story.join import join_candidate
from writer.ui.textual_ext.document import speed_up
from writer.ui.widgets.page import (
    COLUMN_DEFAULT,
    markdown_spans,
    page_styles,
    paragraph_bounds,
    side_padding,
)
from writer.ui.widgets.typing import TypedRun, TypingHistory

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


TAIL_ALIGN = 4096  # see StoryEditor.text_before_cursor
JOIN_CHARS = 80  # how much of the story either side of the cursor the join rule looks at
_IDEA_LINE = re.compile(r"\[Idea: .*\]")


class WordCounter:
    """Counts the words of a document's lines, remembering each line's count.

    An edit leaves every other line the same `str` object, whose hash Python caches, so a
    recount costs a dictionary lookup per line, not a split of the whole text (not measured
    here; bench/manuscript.py times the keystroke path as a whole). Newlines separate words,
    so the sum over lines is the count of the whole text.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, lines: list[str]) -> int:
        known, counts, total = self._counts, {}, 0
        for line in lines:
            words = known.get(line)
            if words is None:
                # An idea note is the author's, not the story's: it is not counted.
                words = 0 if _IDEA_LINE.fullmatch(line) else len(line.split())
            counts[line] = words
            total += words
        self._counts = counts
        return total


class KeyWatcher(Protocol):
    """Told of each key that reaches the editor, before the editor handles it."""

    def key(self, key: str) -> None: ...


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
        old = self.history
        self.history = TypingHistory(
            max_checkpoints=old.max_checkpoints,
            checkpoint_timer=old.checkpoint_timer,
            checkpoint_max_characters=old.checkpoint_max_characters,
        )
        self._typed: list[str] = []  # typed characters held back while more keys wait
        self._words = WordCounter()
        # Told of every key before the editor handles it; the writing screen sets its inline
        # suggestion here (writing/suggestion.py), so this widget knows nothing about it.
        self.suggester: KeyWatcher | None = None
        self._column = COLUMN_DEFAULT
        self._markdown = False
        self._focus_mode = False
        self._styles: dict[str, Style] = {}
        self._styles_theme: str | None = None
        self._active: tuple[int, int] = (0, 0)  # focus mode: the paragraph being written

    # -- typing -----------------------------------------------------------------------------------
    async def _on_key(self, event: events.Key) -> None:
        # Runs before TextArea's own key handling (which then handles every key not typed in).
        if self.suggester is not None:
            self.suggester.key(event.key)  # a key dismisses the inline suggestion
        typed = self._typed_text(event)
        if typed is None:
            self.flush_typing()  # (nothing is held back here: see _more_typing_waits)
            if self._more_typing_waits():
                # A key between typed ones (an arrow, ctrl+home, ctrl+z): its binding acts when
                # the key has bubbled up to the App, by when the typed keys queued behind it
                # would already be in, at the old cursor. Resolve it now, as the App would.
                self._restart_blink()
                if await self.app._check_bindings(event.key):
                    event.stop()
                    event.prevent_default()
            return
        event.stop()
        event.prevent_default()
        self._typed.append(typed)
        if not self._more_typing_waits():
            self.flush_typing()
        elif len(self._typed) == 1:
            # A safety net on the App's own timer: held keys go in within 0.1 s even if the key
            # seen waiting never reaches this widget (a focus change, a stalled queue).
            self.app.set_timer(0.1, self.flush_typing)

    def _typed_text(self, event: events.Key) -> str | None:
        """What TextArea would insert for this key (None: not a key that types)."""
        if self.read_only or (self.tab_behavior == "indent" and event.key in ("tab", "escape")):
            return None
        if event.key == "enter":
            return "\n"
        return event.character if event.is_printable else None

    def _more_typing_waits(self) -> bool:
        """Whether the next message in the queue is another key that types (a paste from a
        terminal without bracketed paste, or fast typing on a busy machine). Messages are
        handled one after another without anything else running on the UI thread between
        them, so holding a key back until that one is handled changes nothing but the cost;
        any other message, and an empty queue, flushes first."""
        try:
            pending = self._peek_message()
        except MessagePumpClosed:
            return False
        return isinstance(pending, events.Key) and self._typed_text(pending) is not None

    def flush_typing(self) -> None:
        """Insert the typed characters held back, exactly as TextArea inserts them one key at a
        time: the first replaces a selection, each newline on its own, and each run between as
        one `TypedRun` edit, recorded in the history as the undo steps single keys would have
        made (see typing.py). A run re-wraps its line and posts Changed once, not once per
        character."""
        text = "".join(self._typed)
        self._typed.clear()
        if not text or self.read_only:
            return
        self._restart_blink()
        start, end = self.selection
        if start != end or len(text) == 1:
            self._replace_via_keyboard(text[0], start, end)
            text = text[1:]
        for part in re.split("(\n)", text):
            if len(part) == 1:
                self._replace_via_keyboard(part, *self.selection)
                continue
            if part:
                cursor = self.selection.end
                self.edit(TypedRun(part, cursor, cursor, maintain_selection_offset=False))
        # TextArea scrolls to the cursor before it re-measures the wrapped document, so an edit
        # that adds rows leaves the view short of the cursor: follow it now that it is measured.
        self.scroll_cursor_visible()

    # -- the page -------------------------------------------------------------------------------
    @property
    def column(self) -> int:
        """The measure in characters the text wraps at, centred (0: the full width)."""
        return self._column

    @column.setter
    def column(self, value: int) -> None:
        self._column = max(0, int(value))
        self._fit_column()

    @property
    def markdown(self) -> bool:
        """Whether headings, emphasis, quotes and idea notes are styled (a `.md` text)."""
        return self._markdown

    @markdown.setter
    def markdown(self, value: bool) -> None:
        self._markdown = bool(value)
        self._restyle()

    @property
    def focus_mode(self) -> bool:
        """Whether every paragraph but the one being written is dimmed."""
        return self._focus_mode

    @focus_mode.setter
    def focus_mode(self, value: bool) -> None:
        self._focus_mode = bool(value)
        self._restyle()

    def _restyle(self) -> None:
        self._line_cache.clear()
        self.refresh()

    def _fit_column(self) -> None:
        """Centre the column: equal side padding around `column` characters (CSS padding, so
        the text area wraps, scrolls and takes clicks as before, over the whole width)."""
        width = self.outer_size.width
        if not width:
            return
        scrollbar = self.scrollbar_size_vertical if self.show_vertical_scrollbar else 0
        side = side_padding(width, self._column, scrollbar=scrollbar)
        if self.styles.padding.left != side or self.styles.padding.right != side:
            self.styles.padding = (0, side)
            # A padding change keeps the widget's size, so TextArea gets no Resize to re-wrap
            # on: re-wrap once the new padding is laid out.
            self.call_after_refresh(self._rewrap_and_refresh_virtual_size)
            self.call_after_refresh(self.scroll_cursor_visible)

    def _page_styles(self) -> dict[str, Style]:
        theme = self.app.theme
        if theme != self._styles_theme:
            self._styles = page_styles(self.app.current_theme, self.app.theme_variables)
            self._styles_theme = theme
        return self._styles

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._focus_mode:
            active = paragraph_bounds(self.document.lines, self.cursor_location[0])
            if active != self._active:
                self._active = active
                self._line_cache.clear()
        if (self._markdown or self._focus_mode) and self._styles_theme != self.app.theme:
            self._line_cache.clear()
        return super().render_lines(crop)

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if not (self._markdown or self._focus_mode):
            return line
        styles = self._page_styles()
        if self._markdown:
            for start, end, kind in markdown_spans(line.plain):
                line.stylize(styles[kind], start, end)
        if self._focus_mode and not self._active[0] <= line_index <= self._active[1]:
            line.stylize(styles["dim"])
        return line

    def text_before_cursor(self, max_chars: int | None = None) -> str:
        """The story up to the cursor; with `max_chars`, only its last `max_chars` or more
        characters: what a prompt needs is the tail the context window holds, and building it
        then costs the same on a 5 MB manuscript as on a page.

        The cut is stable while the author types (at a line start, or at a multiple of
        TAIL_ALIGN characters into a long line), so consecutive requests keep their first
        tokens and the engine can reuse its cached prefix.
        """
        row, column = self.cursor_location
        if max_chars is None:
            return self.get_text_range((0, 0), (row, column))
        lines = self.document.lines
        parts = [lines[row][:column]]
        size = column
        while row > 0 and size < max_chars:
            row -= 1
            parts.append(lines[row])
            size += len(lines[row]) + 1
        extra = size - max_chars
        if extra > TAIL_ALIGN:  # a long first line: cut into it, at an aligned place
            parts[-1] = parts[-1][(extra // TAIL_ALIGN) * TAIL_ALIGN :]
        return self.document.newline.join(reversed(parts))

    def word_count(self) -> int:
        """Words in the story (runs of non-space characters), recounting only changed lines."""
        return self._words.count(self.document.lines)

    def insert_as_one_step(self, text: str) -> Location:
        """Insert `text` at the cursor as a single undo step (also when it is one character);
        returns where the inserted text ends.

        TextArea batches single typed characters into one undo step; checkpointing first keeps
        the insertion apart from the typing before it, and a multi-character edit always closes
        its own batch.
        """
        self.history.checkpoint()
        result = self.insert(text)
        self.history.checkpoint()
        return result.end_location

    def text_after_cursor(self, max_chars: int = JOIN_CHARS) -> str:
        """About `max_chars` characters of the story after the cursor (the rest of its line,
        and the next line's start)."""
        row, column = self.cursor_location
        lines = self.document.lines
        text = lines[row][column : column + max_chars]
        if len(text) < max_chars and row + 1 < len(lines):
            text += "\n" + lines[row + 1][: max_chars - len(text)]
        return text

    def joined_at_cursor(self, text: str) -> str:
        """Generated `text` as it goes in at the cursor: the one join rule
        (`join_candidate`) applied with the story before and after the cursor."""
        return join_candidate(self.text_before_cursor(JOIN_CHARS), text, self.text_after_cursor())

    def insert_generated(self, text: str) -> tuple[Location, Location]:
        """Insert generated `text` at the cursor, joined to the story around it
        (`joined_at_cursor`), as one undo step; returns where it starts and ends."""
        start = self.cursor_location
        return start, self.insert_as_one_step(self.joined_at_cursor(text))

    def replace_generated(self, text: str, start: Location, end: Location) -> Location:
        """Put generated `text` in place of `start`..`end`, joined to the story around it, as
        one undo step; the cursor goes to its end, which is returned."""
        doc = self.document
        before_at = max(0, doc.get_index_from_location(start) - JOIN_CHARS)
        before = self.get_text_range(doc.get_location_from_index(before_at), start)
        last = doc.get_index_from_location(doc.end)
        after_to = doc.get_location_from_index(
            min(last, doc.get_index_from_location(end) + JOIN_CHARS)
        )
        after = self.get_text_range(end, after_to)
        self.history.checkpoint()
        result = self.replace(
            join_candidate(before, text, after), start, end, maintain_selection_offset=False
        )
        self.history.checkpoint()
        self.move_cursor(result.end_location)
        return result.end_location

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

    def _set_document(self, text: str, language: str | None) -> None:
        super()._set_document(text, language)
        speed_up(self.document, self.wrapped_document)  # see document.py

    def _rewrap_and_refresh_virtual_size(self) -> None:
        # TextArea re-wraps the whole document on every resize. The candidates panel opening,
        # growing or closing changes only the editor's height, and re-wrapping a 1 MB
        # manuscript held the screen 0.3-2 s: keep the wrapping while its width is the same
        # (edits keep it current line by line).
        wrapped = self.wrapped_document
        if (
            wrapped.document is not self.document
            or wrapped._width != self.wrap_width
            or wrapped._tab_width != self.indent_width
        ):
            super()._rewrap_and_refresh_virtual_size()
            return
        self._line_cache.clear()
        self._refresh_size()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_column()
        # The candidates panel opening (or growing) shrinks the editor: the line being written
        # must stay in view.
        self.call_after_refresh(self.scroll_cursor_visible)

    # -- find and replace ---------------------------------------------------------------------
    @staticmethod
    def _pattern(query: str) -> re.Pattern[str]:
        return re.compile(re.escape(query), re.IGNORECASE)

    def find_next(self, query: str, backwards: bool = False) -> bool:
        """Select the next match of `query` (case-insensitive) after the selection, or the one
        before it, wrapping around the story; False when there is none."""
        if not query:
            return False
        text = self.text
        doc = self.document
        start, end = sorted(self.selection)
        pattern = self._pattern(query)
        if backwards:
            before = doc.get_index_from_location(start)
            matches = list(pattern.finditer(text, 0, before)) or list(pattern.finditer(text))
            match = matches[-1] if matches else None
        else:
            after = doc.get_index_from_location(end)
            match = pattern.search(text, after) or pattern.search(text)
        if match is None:
            return False
        self.selection = Selection(
            doc.get_location_from_index(match.start()), doc.get_location_from_index(match.end())
        )
        self.scroll_cursor_visible(center=True)
        return True

    def replace_next(self, query: str, replacement: str) -> bool:
        """Replace the selected match (one undo step), then select the next one. With no match
        selected, the first press only finds. False when there is no match at all."""
        start, end = sorted(self.selection)
        if query and self._pattern(query).fullmatch(self.selected_text):
            self.history.checkpoint()
            result = self.replace(replacement, start, end)
            self.history.checkpoint()
            self.selection = Selection.cursor(result.end_location)
        return self.find_next(query)

    def replace_all(self, query: str, replacement: str) -> int:
        """Replace every match of `query` (case-insensitive) as one undo step; the count."""
        if not query:
            return 0
        new, count = self._pattern(query).subn(lambda _m: replacement, self.text)
        if count:
            cursor = self.cursor_location
            self.history.checkpoint()
            self.replace(new, (0, 0), self.document.end, maintain_selection_offset=False)
            self.history.checkpoint()
            row = min(cursor[0], self.document.line_count - 1)
            self.move_cursor((row, min(cursor[1], len(self.document.get_line(row)))))
        return count
