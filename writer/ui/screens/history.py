"""f3: the draft's revisions, newest first, with a preview; enter restores one.

Restoring goes through the store (which records it as a revision, so it can be undone from here
too) and replaces the editor's text as one undo step.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option


class HistoryScreen(ModalScreen["int | None"]):
    """Dismisses with the revision ID to restore, or None."""

    DEFAULT_CSS = """
    HistoryScreen { align: center middle; }
    HistoryScreen > Vertical {
        width: 95%; height: 90%; border: thick $primary; background: $surface;
    }
    HistoryScreen Horizontal { height: 1fr; }
    HistoryScreen OptionList { width: 42; height: 1fr; }
    HistoryScreen TextArea { width: 1fr; height: 1fr; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, revisions: list) -> None:
        super().__init__()
        self.revisions = revisions

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "History"
            box.border_subtitle = "enter: restore this revision · escape: close"
            with Horizontal():
                options = [
                    Option(
                        Content(
                            f"{time.strftime('%m-%d %H:%M:%S', time.localtime(r.created))}  "
                            f"{r.reason:<14} {r.words} w"
                        ),
                        id=str(r.id),
                    )
                    for r in self.revisions
                ] or [Option("no revisions yet", disabled=True)]
                yield OptionList(*options)
                yield TextArea("", read_only=True, soft_wrap=True, id="preview")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if 0 <= event.option_index < len(self.revisions):
            self.query_one("#preview", TextArea).load_text(self.revisions[event.option_index].text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id)) if event.option.id else None
