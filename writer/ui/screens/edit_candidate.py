"""e in the candidates panel: edit a candidate before it goes into the story."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import TextArea

from writer.ui.keys import key_for


class EditCandidateScreen(ModalScreen[str | None]):
    """Dismisses with the edited text (ctrl+s: insert it) or None (escape: keep the story)."""

    DEFAULT_CSS = """
    EditCandidateScreen { align: center middle; }
    EditCandidateScreen > Vertical {
        width: 90; max-width: 95%; height: 60%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    EditCandidateScreen TextArea { height: 1fr; border: none; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "insert", "Insert", priority=True),
        # A text box's usual select-all (TextArea's own ctrl+a goes to the line start; shift
        # with the arrows, home/end and ctrl+left/right select as everywhere).
        Binding("ctrl+a", "select_all", "Select all", priority=True),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Edit the candidate"
            box.border_subtitle = (
                f"{key_for(self, 'insert')}: insert it · {key_for(self, 'select_all')}: select all"
                f" · {key_for(self, 'dismiss(None)')}: cancel"
            )
            yield TextArea(self.text, soft_wrap=True, id="candidate-text")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_select_all(self) -> None:
        self.query_one(TextArea).select_all()

    def action_insert(self) -> None:
        self.dismiss(self.query_one(TextArea).text)
