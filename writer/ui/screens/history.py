"""f3: the draft's revisions, newest first, with a preview; enter restores one.

The list comes from the store without texts (word counts and previews are stored with each
revision); the highlighted revision's text is loaded in a thread worker, so moving through the
history of a long draft never waits for a text to be rebuilt. Restoring goes through the store
(which records it as a revision, so it can be undone from here too) and replaces the editor's
text as one undo step.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from writer.errors import WriterError
from writer.store.models import Revision, word_count
from writer.ui.keys import key_for

if TYPE_CHECKING:
    from writer.store import DraftStore

# The preview shows at most this much of a revision's end: wrapping a whole 1 MB manuscript
# in the preview would hold up the screen at every key; restoring brings back all of it.
PREVIEW_LIMIT = 100_000
_CACHED = 8  # texts kept while the author moves up and down the list


def preview_text(revision: Revision) -> str:
    """What the preview shows of `revision` (loaded with its text): all of it, or its end."""
    text = revision.text or ""
    if len(text) <= PREVIEW_LIMIT:
        return text
    start = text.find("\n", len(text) - PREVIEW_LIMIT) + 1  # from the start of a line
    if start == 0 or start > len(text) - PREVIEW_LIMIT // 2:
        start = len(text) - PREVIEW_LIMIT
    hidden = revision.words - word_count(text[start:])
    return (
        f"[… the first {hidden:,} words are not shown here; enter restores all "
        f"{revision.words:,}]\n\n" + text[start:]
    )


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

    class Loaded(Message):
        """A revision's preview, from the loading worker."""

        def __init__(self, revision_id: int, text: str) -> None:
            super().__init__()
            self.revision_id = revision_id
            self.text = text

    def __init__(self, revisions: list[Revision], store: DraftStore) -> None:
        super().__init__()
        self.revisions = revisions
        self.store = store
        self._texts: dict[int, str] = {}
        self._shown: int | None = None  # the revision whose preview is wanted

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "History"
            box.border_subtitle = (
                f"{key_for(OptionList, 'select')}: restore this revision"
                f" · {key_for(self, 'dismiss(None)')}: close"
            )
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
        if not 0 <= event.option_index < len(self.revisions):
            return
        revision_id = self.revisions[event.option_index].id
        self._shown = revision_id
        if revision_id in self._texts:
            self._show(revision_id, self._texts[revision_id])
        else:
            self._load(revision_id)

    @work(thread=True, exclusive=True, group="history-preview", exit_on_error=False)
    def _load(self, revision_id: int) -> None:
        try:
            text = preview_text(self.store.get_revision(revision_id))
        except WriterError as exc:
            text = f"[this revision cannot be shown: {exc}]"
        self.post_message(self.Loaded(revision_id, text))  # thread-safe; dropped if closed

    def on_history_screen_loaded(self, message: Loaded) -> None:
        if len(self._texts) >= _CACHED:
            self._texts.pop(next(iter(self._texts)))
        self._texts[message.revision_id] = message.text
        self._show(message.revision_id, message.text)

    def _show(self, revision_id: int, text: str) -> None:
        if revision_id == self._shown:  # not a slower load for a row the author has left
            self.query_one("#preview", TextArea).load_text(text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id)) if event.option.id else None
