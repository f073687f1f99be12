"""f1: every key of the app, in one table, read from the bindings themselves (`writer.ui.keys`),
so the help cannot name a key that does something else. docs/keys.md holds the same tables
(`keys_markdown`; a test checks it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from writer.ui.keys import key_for
from writer.ui.screens.chat import ChatScreen, ReplyPanel
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import StoryEditor
from writer.ui.writing.screen import WritingScreen


@dataclass(frozen=True)
class KeyRow:
    """One row of the help: `keys` names (owner class, action) pairs, written into `pattern`
    (one `{}` per pair), so the key column is read from the bindings."""

    where: str
    pattern: str
    keys: tuple[tuple[type, str], ...]
    what: str

    @property
    def key_text(self) -> str:
        return self.pattern.format(*(key_for(owner, action) for owner, action in self.keys))


def _row(where: str, owner: type, action: str, what: str) -> KeyRow:
    return KeyRow(where, "{}", ((owner, action),), what)


W, E, C = WritingScreen, StoryEditor, CandidatesPanel

KEY_ROWS: tuple[KeyRow, ...] = (
    _row(
        "Editor",
        W,
        "generate('continue')",
        "Continue: N candidates from the text before the cursor",
    ),
    _row(
        "Editor",
        W,
        "generate('ideas')",
        "What happens next: N plot ideas (inserted as an [Idea: …] note)",
    ),
    _row("Editor", W, "regenerate", "Regenerate the last request with a new seed"),
    _row("Editor", W, "cancel", "Cancel a running generation and close the candidates"),
    KeyRow(
        "Editor",
        "{} / {}",
        ((W, "app.focus_next"), (W, "app.focus_previous")),
        "Move to the candidates panel / back",
    ),
    KeyRow(
        "Editor",
        "{} / {}",
        ((E, "undo"), (E, "redo")),
        "Undo / redo (an insertion is one undo step)",
    ),
    KeyRow(
        "Editor",
        "{} / {}",
        ((E, "document_start"), (E, "document_end")),
        "Start / end of the story (reopens where you left off)",
    ),
    KeyRow(
        "Editor",
        "{} / {} / {}",
        ((W, "find"), (W, "find_next"), (W, "find_next(True)")),
        "Find / the next match / the previous one",
    ),
    _row("Editor", W, "replace", "Replace: the next match or all of them (one undo step)"),
    _row(
        "Editor", W, "next_token", "Next token at the cursor: the 10 most likely, enter inserts one"
    ),
    _row(
        "Editor",
        W,
        "inserted_probabilities",
        "Token probabilities of the text just inserted; swap one and continue",
    ),
    _row(
        "Editor",
        W,
        "focus_mode",
        "Focus mode: hide the bars, dim all but the paragraph being written",
    ),
    KeyRow(
        "Candidates",
        "{} … {}",
        ((C, "choose(0)"), (C, "choose(8)")),
        "Insert candidate N at the cursor",
    ),
    KeyRow(
        "Candidates",
        "{} / {}, {}",
        ((C, "cursor_up"), (C, "cursor_down"), (C, "select")),
        "Insert the highlighted candidate",
    ),
    _row(
        "Candidates",
        C,
        "probabilities",
        "Token probabilities of the highlighted candidate; swap one and continue",
    ),
    _row(
        "Candidates",
        C,
        "toggle_shading",
        "Shade the candidates' tokens by probability (again: off)",
    ),
    _row(
        "Candidates",
        C,
        "choose_sentence",
        "Insert the highlighted candidate up to its first sentence's end",
    ),
    _row("Candidates", C, "edit_candidate", "Edit the highlighted candidate, then insert it"),
    _row(
        "Candidates",
        C,
        "continue_candidate",
        "Continue the highlighted candidate: N more from the story plus it",
    ),
    _row("Settings", W, "pick_preset", "Switch the creativity preset"),
    _row(
        "Settings",
        W,
        "parameters",
        "Parameters of this draft: temperature, top-k/p, penalty, n-grams, stop, length, count",
    ),
    _row("Settings", W, "models", "Models: base and fine-tuned; switch the model"),
    _row(
        "Settings",
        W,
        "learn",
        "Learn from your picks: teach the model the candidates you choose (again: stop)",
    ),
    _row(
        "Settings",
        W,
        "story_context",
        "Story context: memory, author's note, lorebook; again: what the model sees",
    ),
    _row("Settings", App, "command_palette", "Command palette: presets, themes, every dialog"),
    _row(
        "Chat", W, "chat", "Chat with a character: N replies in their voice, saved with the draft"
    ),
    KeyRow(
        "Chat",
        "{} … {} / {}",
        ((ReplyPanel, "choose(0)"), (ReplyPanel, "choose(8)"), (ChatScreen, "again")),
        "Pick reply N (it becomes their turn) / ask again",
    ),
    KeyRow(
        "Chat",
        "{} / {}",
        ((ChatScreen, "insert(True)"), (ChatScreen, "insert(False)")),
        'Insert the reply into the story as dialogue ("…," said NAME.) / as-is',
    ),
    _row("Drafts", W, "drafts", "Drafts library: open, new, rename, delete, export"),
    _row("Drafts", W, "app.save", "Save now (autosave runs within 2 s of typing)"),
    _row("Drafts", W, "history", "History: restore an earlier revision"),
    _row("Drafts", W, "alternatives", "Alternatives: candidates of earlier requests"),
    _row(
        "Drafts",
        W,
        "branches",
        "Branches: each request's candidates by story point; go back, swap one in",
    ),
    _row("Drafts", W, "word_goal", "Word goal for this draft: the status bar shows 812/1000 words"),
    _row(
        "Drafts",
        W,
        "save_as",
        "Save as: a copy of the text in a file (works when the store does not)",
    ),
    _row("App", W, "app.help", "This help"),
    _row("App", W, "app.quit", "Quit (saves first; asks if it cannot)"),
)


def keys_markdown() -> str:
    """The key tables of docs/keys.md, one per place, from `KEY_ROWS`."""
    lines: list[str] = []
    for where in dict.fromkeys(row.where for row in KEY_ROWS):
        lines += [f"## {where}", "", "| Key | What it does |", "| --- | --- |"]
        for row in KEY_ROWS:
            if row.where == where:
                key = row.key_text.replace("|", "\\|")
                lines.append(f"| `{key}` | {row.what} |")
        lines.append("")
    return "\n".join(lines)


def help_rows() -> Iterator[tuple[str, str, str]]:
    """(where, key, what) for every row of the help."""
    for row in KEY_ROWS:
        yield row.where, row.key_text, row.what


class HelpScreen(ModalScreen[None]):
    """Every key, grouped by where it works. ctrl+a and ctrl+b are left to tmux and screen.
    The descriptions wrap to the terminal's width; the table scrolls."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 110; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HelpScreen #keys { width: 100%; height: auto; }
    HelpScreen Label { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape,f1,q", "dismiss(None)", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Keys"
            up, down = key_for(VerticalScroll, "scroll_up"), key_for(VerticalScroll, "scroll_down")
            box.border_subtitle = f"{up}/{down}: scroll · {key_for(self, 'dismiss(None)')}: close"
            yield Static(id="keys")
            yield Label("ctrl+a and ctrl+b are never used: they belong to screen and tmux.")

    def on_mount(self) -> None:
        table = Table(
            expand=True, box=None, show_edge=False, pad_edge=False, row_styles=["", "dim"]
        )
        table.add_column("Where", no_wrap=True, style="bold")
        table.add_column("Key", no_wrap=True, style="bold")
        table.add_column("What it does", ratio=1, overflow="fold")
        previous = ""
        for where, key, what in help_rows():
            table.add_row(where if where != previous else "", key, what)  # once per group
            previous = where
        self.query_one("#keys", Static).update(table)
        self.query_one(VerticalScroll).focus()
