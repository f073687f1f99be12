"""ctrl+f / f9: find, and find-and-replace, in the story. The dialog only asks; the writing
screen searches and edits (StoryEditor.find_next / replace_next / replace_all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

ReplaceScope = Literal["find", "next", "all"]


@dataclass(frozen=True)
class FindRequest:
    """What to look for (case-insensitive), and what to do: find it, replace the next match, or
    replace every match (one undo step)."""

    query: str
    replacement: str = ""
    scope: ReplaceScope = "find"


class FindScreen(ModalScreen[FindRequest | None]):
    """Find (one field) or replace (two fields, "Replace next" / "Replace all"); escape: cancel."""

    DEFAULT_CSS = """
    FindScreen { align: center middle; }
    FindScreen > Vertical {
        width: 70; max-width: 95%; height: auto;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    FindScreen Horizontal { height: auto; }
    FindScreen Button { margin: 0 1 0 0; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, query: str = "", replacement: str | None = None) -> None:
        super().__init__()
        self.query_text = query
        self.replacement = replacement  # None: find only

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Find (enter: next match, not case-sensitive):")
            yield Input(self.query_text, id="query")
            if self.replacement is not None:
                yield Label("Replace with:")
                yield Input(self.replacement, id="replacement")
                with Horizontal():
                    yield Button("Replace next", id="next", variant="primary")
                    yield Button("Replace all", id="all")

    def on_mount(self) -> None:
        # Replace with the text to find already filled in: the next thing to type is its
        # replacement.
        if self.replacement is not None and self.query_text:
            self.query_one("#replacement", Input).focus()
        else:
            self.query_one("#query", Input).focus()

    def _answer(self, scope: ReplaceScope) -> None:
        query = self.query_one("#query", Input).value
        if not query:
            self.notify("Type something to find.", severity="warning")
            return
        replacement = ""
        if self.replacement is not None:
            replacement = self.query_one("#replacement", Input).value
        self.dismiss(FindRequest(query, replacement, scope))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer("find" if self.replacement is None else "next")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._answer("all" if event.button.id == "all" else "next")
