"""f1: every key of the app, in one table (docs/guide/writing.md's keys table says the same)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

KEYS: list[tuple[str, str, str]] = [
    ("Editor", "ctrl+g", "Continue: generate N candidates from the text before the cursor"),
    ("Editor", "ctrl+n", "What happens next: N plot ideas (inserted as an [Idea: …] note)"),
    ("Editor", "ctrl+r", "Regenerate the last request with a new seed"),
    ("Editor", "escape", "Cancel a running generation and close the candidates"),
    ("Editor", "tab", "Move to the candidates panel (shift+tab: back)"),
    ("Editor", "ctrl+z / ctrl+y", "Undo / redo (an insertion is one undo step)"),
    ("Editor", "ctrl+home / ctrl+end", "Start / end of the story (reopens where you left off)"),
    ("Editor", "ctrl+f / f6", "Find / find the next match (shift+f6: the previous one)"),
    ("Editor", "f9", "Replace: the next match or all of them (one undo step)"),
    ("Candidates", "1 … 9", "Insert candidate N at the cursor"),
    ("Candidates", "up / down, enter", "Insert the highlighted candidate"),
    ("Candidates", "p", "Token probabilities of the highlighted candidate; swap one and continue"),
    ("Candidates", "t", "Shade the candidates' tokens by probability in the panel (t again: off)"),
    ("Editor", "f7", "Next token at the cursor: the 10 most likely, enter inserts one"),
    ("Editor", "shift+f9", "Token probabilities of the text just inserted; swap one and continue"),
    ("Candidates", "s", "Insert the highlighted candidate up to its first sentence's end"),
    ("Candidates", "e", "Edit the highlighted candidate, then insert it (ctrl+s)"),
    ("Candidates", "c", "Continue the highlighted candidate: N more from the story plus it"),
    ("Settings", "ctrl+t", "Switch the creativity preset"),
    ("Settings", "f2", "Parameters: temperature, top-k/p, penalty, n-grams, stop, length, count"),
    ("Settings", "f5", "Models: base and fine-tuned; switch the model"),
    (
        "Settings",
        "f8",
        "Story context: memory, author's note, lorebook; f8 again: what the model sees",
    ),
    ("Chat", "shift+f8", "Chat with a character: N replies in their voice, saved with the draft"),
    ("Chat", "1 … 9 / ctrl+r", "Pick reply N (it becomes their turn) / ask again"),
    ("Chat", "f2 / f3", 'Insert the reply into the story as dialogue ("…," said NAME.) / as-is'),
    ("Settings", "ctrl+p", "Command palette: presets, themes, every dialog"),
    ("Drafts", "ctrl+o", "Drafts library: open, new, rename, delete, export"),
    ("Drafts", "ctrl+s", "Save now (autosave runs within 2 s of typing)"),
    ("Drafts", "f3", "History: restore an earlier revision"),
    ("Drafts", "f4", "Alternatives: candidates of earlier requests"),
    (
        "Drafts",
        "ctrl+l",
        "Branches: each request's candidates by story point; go back, swap one in",
    ),
    ("Drafts", "f10", "Word goal for this draft: the status bar shows 812/1000 words"),
    ("Drafts", "f12", "Save as: a copy of the text in a file (works when the store does not)"),
    ("Editor", "ctrl+\\", "Focus mode: hide the bars, dim all but the paragraph being written"),
    ("App", "f1", "This help"),
    ("App", "ctrl+q", "Quit (saves first; asks if it cannot)"),
]


class HelpScreen(ModalScreen[None]):
    """Every key, grouped by where it works. ctrl+a and ctrl+b are left to tmux and screen."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HelpScreen DataTable { height: auto; max-height: 24; }
    HelpScreen Label { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape,f1,q", "dismiss(None)", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Keys"
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Label("ctrl+a and ctrl+b are never used: they belong to screen and tmux.")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Where", "Key", "What it does")
        for where, key, what in KEYS:
            table.add_row(where, key, what)
        table.focus()
