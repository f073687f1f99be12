"""What f8 adds for recall (docs/recall.md): the recalled passages of the next request, each
with the words that brought it back, to jump to; and lorebook suggestions (the names the story
keeps mentioning, engine/story/lore.py) to add to the lorebook being edited.

`recalled_list` builds the OptionList the context viewer shows; choosing a passage dismisses
the viewer with its `start` (an offset in the text before the cursor). `LoreSuggestions` lists
the suggestions, counted on a worker thread; enter hands the highlighted one's `[[entry]]`
TOML to `add` and takes it off the list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from writer.errors import error_line

PREVIEW_CHARS = 90


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def recalled_list(passages: Sequence[Any]) -> OptionList:
    """The recalled passages, in prompt order: a preview, its tokens and why it came back.
    Each option's id is the passage's start offset."""
    options = [
        Option(
            escape(
                f"{_preview(p.text)}  ({p.tokens} tokens; "
                f"why: {', '.join(p.why) or 'shared words'})"
            ),
            id=str(p.start),
        )
        for p in passages
    ]
    return OptionList(*options, id="recalled")


class LoreSuggestions(ModalScreen[None]):
    """ctrl+l in the story context dialog: suggested lorebook entries for the story."""

    DEFAULT_CSS = """
    LoreSuggestions { align: center middle; }
    LoreSuggestions > Vertical {
        width: 100; max-width: 95%; height: 80%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    LoreSuggestions #lore-status { height: auto; margin-bottom: 1; }
    LoreSuggestions OptionList { height: 1fr; }
    """
    BINDINGS = [Binding("escape,ctrl+l", "dismiss(None)", "Close")]

    def __init__(self, story: str, add: Callable[[str], None], known: Sequence[str] = ()) -> None:
        """`story`: the text to read; `add(toml)` puts an entry in the lorebook; `known`: keys
        the lorebook already has (their names are not suggested again)."""
        super().__init__()
        self.story = story
        self.add = add
        self.known = {k.lower() for k in known}
        self.suggestions: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Suggested lorebook entries"
            box.border_subtitle = "enter: add to the lorebook · escape: close"
            yield Static("reading the story…", id="lore-status")
            yield OptionList(id="suggestions")

    def on_mount(self) -> None:
        self._suggest(self.story)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _suggest(self, story: str) -> None:
        from writer.engine.story.lore import suggest_lore

        try:
            found = suggest_lore(story)
        except Exception as exc:  # shown in the dialog, never a crash
            self.app.call_from_thread(self._status, error_line(exc))
            return
        self.app.call_from_thread(self._show, found)

    def _status(self, text: str) -> None:
        self.query_one("#lore-status", Static).update(escape(text))

    def _show(self, found: list[Any]) -> None:
        fresh = [s for s in found if not any(k.lower() in self.known for k in s.keys)]
        self.suggestions = {str(i): s for i, s in enumerate(fresh)}
        options = self.query_one("#suggestions", OptionList)
        options.add_options(
            Option(escape(f"{s.name} ({s.mentions} mentions): {_preview(s.introduced)}"), id=key)
            for key, s in self.suggestions.items()
        )
        if fresh:
            self._status(f"{len(fresh)} names the story keeps mentioning, most mentioned first.")
            options.highlighted = 0
            options.focus()
        else:
            self._status("No name is mentioned twice that the lorebook lacks.")

    @on(OptionList.OptionSelected, "#suggestions")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        suggestion = self.suggestions.pop(event.option.id or "", None)
        if suggestion is None:
            return
        self.add(suggestion.to_toml())
        event.option_list.remove_option(event.option.id or "")
        self.notify(f"Added {suggestion.name} to the lorebook; edit its text, then apply.")
