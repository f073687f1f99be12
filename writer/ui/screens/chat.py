"""shift+f8: talk to a character of the draft.

The screen asks for a name (the description comes from the draft's lorebook entry for that name,
else its memory, and can be edited) or reopens one of the draft's chats. The author types a line;
the model proposes N replies in the character's voice, streaming into a candidates panel; a digit
picks one (it becomes the character's turn), ctrl+r asks again. f2 inserts the highlighted reply
(or the last one picked) into the story at the cursor as a line of dialogue, `"…," said NAME.`,
f3 inserts it as it is. Every turn is saved with the draft as it is taken
(`DraftStore.chats.add_turn`).

Generation runs in a thread worker with a cancel event (escape, a new request, leaving the screen)
and talks to the UI only through `call_from_thread`; framing and the end of a turn are
`writer.engine.story.chat`'s. It is handed the writing screen underneath
(its open draft, editor and current_params()) and uses the app's model, config and notify.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from writer.engine.story.chat import (
    AUTHOR_TAG,
    STORY_CHARS,
    ChatTurn,
    check_name,
    description_from_context,
)
from writer.errors import WriterError, error_line
from writer.ui.keys import key_for
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.fields import text_fields_first

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost


def as_dialogue(reply: str, name: str) -> str:
    """A reply as a line of dialogue: `"I sail," said Mara.` (a final period becomes a comma;
    ? ! … and dashes stay)."""
    text = " ".join(reply.split()).strip("\"“”'")
    if not text:
        return ""
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1] + ","
    elif text[-1] not in ",?!…—-.":
        text += ","
    return f'"{text}" said {name}.'


def open_chat(writing: WritingHost) -> None:
    """Open the chat screen over the writing screen."""
    writing.app.push_screen(ChatScreen(writing))


def chat_keys_hint() -> str:
    """The reply panel's keys, read from the bindings."""
    pick = f"{key_for(ReplyPanel, 'choose(0)')}-{key_for(ReplyPanel, 'choose(8)')}"
    return (
        f"{pick}: pick · {key_for(ChatScreen, 'again')}: again"
        f" · {key_for(ChatScreen, 'insert(True)')}: insert as dialogue"
        f" · {key_for(ChatScreen, 'insert(False)')}: as-is"
        f" · {key_for(ChatScreen, 'cancel_or_close')}: cancel"
    )


class ReplyPanel(CandidatesPanel):
    """The candidates panel for replies: digits pick, no probabilities or continuing."""

    def _update_titles(self, note: str = "") -> None:
        self.border_title = "Replies · generating…" if self.running else "Replies"
        keys = chat_keys_hint()
        self.border_subtitle = f"{note} · {keys}" if note else keys

    def action_probabilities(self) -> None:
        self.notify("Token probabilities are for the story's candidates (p there).")

    def action_continue_candidate(self) -> None:
        pick = f"{key_for(self, 'choose(0)')}-{key_for(self, 'choose(8)')}"
        self.notify(f"Pick a reply ({pick}) or ask again ({key_for(ChatScreen, 'again')}).")


class ChatScreen(Screen[None]):
    """Name and description, the draft's earlier chats, the transcript, replies, your line."""

    DEFAULT_CSS = """
    ChatScreen { layout: vertical; }
    ChatScreen #who { height: auto; padding: 0 1; }
    ChatScreen #who Input { width: 1fr; }
    ChatScreen #name { max-width: 30; }
    ChatScreen #chats { height: auto; max-height: 8; border: round $primary 60%; }
    ChatScreen #chats.-empty { display: none; }
    ChatScreen #transcript { height: 1fr; border: round $primary 60%; padding: 0 1; }
    ChatScreen #line { margin: 0 1; }
    ChatScreen #hint { color: $text-muted; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel_or_close", "Back"),
        Binding("ctrl+r", "again", "Again", priority=True),
        Binding("f2", "insert(True)", "Insert as dialogue"),
        Binding("f3", "insert(False)", "Insert as-is"),
    ]

    def __init__(self, writing: WritingHost) -> None:
        """`writing`: the writing screen underneath (its draft, editor and parameters)."""
        super().__init__()
        self.writing = writing
        self.name_shown = ""  # the character, once a chat started
        self.about = ""
        self.skip_entry: int | None = None
        self.turns: list[ChatTurn] = []
        self.chat_id: int | None = None
        self.chats: list[Any] = []
        self.pending = ""  # the author's line the replies shown answer
        self.request = 0
        self.cancel = threading.Event()
        self.running = False
        self.about_typed = False  # the author wrote the description: names no longer fill it

    def compose(self) -> ComposeResult:
        with Horizontal(id="who"):
            yield Input(placeholder="Character's name", id="name")
            yield Input(
                placeholder="Who they are (default: the draft's lorebook/memory)", id="about"
            )
        yield OptionList(id="chats")
        yield VerticalScroll(Static(id="transcript-text"), id="transcript")
        yield ReplyPanel(id="replies")
        yield Input(placeholder=f"Your line ({AUTHOR_TAG}); enter sends", id="line")
        yield Label("", id="hint")
        yield Footer()

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab goes name, description, your line (where typing belongs), then the chats,
        the transcript and the replies."""
        return text_fields_first(super().focus_chain, ("name", "about", "line"))

    def on_mount(self) -> None:
        self.query_one("#transcript").border_title = "Chat"
        chats = self.query_one("#chats", OptionList)
        chats.border_title = "This draft's chats (enter reopens)"
        store, draft = self.writing.drafts.store, self.writing.drafts.draft
        if store is not None and draft is not None:
            try:
                self.chats = store.chats.for_draft(draft.id)
            except WriterError as exc:
                self.app.notify(error_line(exc), title="Chats", severity="error")
        for chat in self.chats:
            turns = f"{chat.turn_count} turn" + ("" if chat.turn_count == 1 else "s")
            chats.add_option(Option(f"{chat.character} · {turns}"))
        chats.set_class(not self.chats, "-empty")
        self._show_transcript()
        self.query_one("#name", Input).focus()

    # -- starting or reopening a chat --------------------------------------------------------------
    def _story_context(self) -> Any:
        from writer.ui.story_context import current_context

        return current_context(self.writing.drafts)

    def on_input_changed(self, event: Input.Changed) -> None:
        about = self.query_one("#about", Input)
        if event.input is about and about.has_focus:
            self.about_typed = True
        elif event.input.id == "name" and self.chat_id is None and not self.turns:
            # The description follows the name until the author types their own.
            if not self.about_typed:
                try:
                    name = check_name(event.value)
                except WriterError:
                    return
                found, self.skip_entry = description_from_context(name, self._story_context())
                about.value = found

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id in ("name", "about"):
            self.query_one("#line", Input).focus()
        elif event.input.id == "line":
            self._send(event.value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id != "chats":
            return
        event.stop()
        chat = self.chats[event.option_index]
        try:
            chat = self.writing.drafts.store.chats.get(chat.id)
        except WriterError as exc:
            self.app.notify(error_line(exc), title="Chats", severity="error")
            return
        self.chat_id, self.turns, self.name_shown = chat.id, list(chat.turns), chat.character
        self.about = chat.about
        last = chat.turns[-1] if chat.turns else None
        self.pending = last.text if last is not None and last.speaker == "author" else ""
        self.query_one("#name", Input).value = chat.character
        self.query_one("#about", Input).value = chat.about
        self._show_transcript()
        self.query_one("#line", Input).focus()

    def _character(self) -> str | None:
        """The chat's character (fixed once the chat has turns), or None after a notice."""
        if self.name_shown and self.turns:
            return self.name_shown
        try:
            name = check_name(self.query_one("#name", Input).value)
        except WriterError as exc:
            self.app.notify(str(exc).replace("--character", "the name field"), severity="warning")
            self.query_one("#name", Input).focus()
            return None
        self.name_shown = name
        self.about = self.query_one("#about", Input).value.strip()
        return name

    def _save_turn(self, speaker: str, text: str) -> ChatTurn:
        """Record a turn in the store (creating the chat on its first turn); kept on screen
        even when the store cannot take it (a notice says so)."""
        store, draft = self.writing.drafts.store, self.writing.drafts.draft
        if store is not None and draft is not None:
            try:
                if self.chat_id is None:
                    self.chat_id = store.chats.create(draft.id, self.name_shown, self.about).id
                return store.chats.add_turn(self.chat_id, speaker, text)
            except WriterError as exc:
                self.app.notify(error_line(exc), title="Chat not saved", severity="error")
        elif store is not None and not self.turns:
            self.app.notify(
                "This draft is not saved yet, so neither is the chat: write something first.",
                severity="warning",
            )
        return ChatTurn(speaker, " ".join(text.split()))  # type: ignore[arg-type]

    # -- a request ---------------------------------------------------------------------------------
    def _send(self, line: str) -> None:
        line = " ".join(line.split())
        if not line:
            self.app.notify("Type a line to say to the character first.", severity="warning")
            return
        if self._character() is None:
            return
        if self.app.model.engine is None:
            self.app.notify("The model is still loading; send again in a moment.")
            return
        # A line whose replies were never picked stays in the transcript (it is stored): the
        # character said nothing to it.
        self.turns.append(self._save_turn("author", line))
        self.pending = line
        self.query_one("#line", Input).value = ""
        self._show_transcript()
        self._generate()

    def action_again(self) -> None:
        if self.pending and self.app.model.engine is not None:
            self._generate()

    def _generate(self) -> None:
        self.cancel.set()  # a running request is replaced
        self.cancel = threading.Event()
        self.request += 1
        n = self.writing.candidate_count  # the draft's count (f2), as the story's candidates
        panel = self.query_one(ReplyPanel)
        panel.start(self.request, "continue", n)
        panel.focus()
        story = self.writing.editor.text_before_cursor(STORY_CHARS)
        from writer.ui.story_context import request_context
        from writer.ui.widgets.editor import prompt_text

        self.running = True
        # Read on the UI thread; the worker gets copies.
        request = dict(
            params=self.writing.current_params(),
            name=self.name_shown,
            about=self.about,
            story=prompt_text(story),
            turns=list(self.turns[:-1]),
            line=self.pending,
            n=n,
            # With recall over the whole draft, found by what is being said (docs/recall.md).
            context=request_context(self.writing.drafts, self.writing.editor),
            skip_entry=self.skip_entry,
        )
        self._replies_worker(self.request, self.cancel, self.app.model.engine, request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="chat")
    def _replies_worker(
        self, request: int, cancel: threading.Event, engine: Any, args: dict[str, Any]
    ) -> None:
        from writer.engine.story.chat import stream_replies
        from writer.engine.types import CandidateDone, GenerationDone, TokenDelta

        app = self.app
        try:
            for event in stream_replies(engine, cancel=cancel, **args):
                if cancel.is_set():
                    return
                if isinstance(event, TokenDelta) and event.text:
                    app.call_from_thread(self._delta, request, event.index, event.text)
                elif isinstance(event, CandidateDone):
                    app.call_from_thread(self._done_one, request, event.index, event.candidate)
                elif isinstance(event, GenerationDone):
                    note = f"{event.stats.tokens_per_s:.0f} tok/s"
                    app.call_from_thread(self._finished, request, note)
        except Exception as exc:  # an engine failure: a notice, the chat stays usable
            if not cancel.is_set():
                app.call_from_thread(self._failed, request, error_line(exc))

    def _delta(self, request: int, index: int, text: str) -> None:
        if request == self.request:
            self.query_one(ReplyPanel).add_deltas({index: text})

    def _done_one(self, request: int, index: int, candidate: Any) -> None:
        if request == self.request:
            self.query_one(ReplyPanel).finish_candidate(index, candidate.text)

    def _finished(self, request: int, note: str) -> None:
        if request == self.request:
            self.running = False
            self.query_one(ReplyPanel).finish(note)

    def _failed(self, request: int, message: str) -> None:
        if request == self.request:
            self.running = False
            self.query_one(ReplyPanel).finish("failed")
            self.app.notify(message, title="Chat", severity="error", timeout=10)

    # -- picking and inserting ---------------------------------------------------------------------
    def on_candidates_panel_chosen(self, event: CandidatesPanel.Chosen) -> None:
        event.stop()  # the story's candidates are the app's; these are the chat's
        if not self.pending:
            return
        reply = " ".join(event.text.split())
        if not reply:
            self.app.notify(
                f"That reply is empty; pick another or {key_for(ChatScreen, 'again')}.",
                severity="warning",
            )
            return
        self.cancel.set()
        self.running = False
        self.turns.append(self._save_turn("character", reply))
        self.pending = ""
        self.query_one(ReplyPanel).close()
        self._show_transcript()
        self.query_one("#line", Input).focus()

    def on_candidates_panel_continue_requested(self, event: Any) -> None:
        event.stop()

    def on_candidates_panel_probabilities_requested(self, event: Any) -> None:
        event.stop()

    def _reply_to_insert(self) -> str:
        panel = self.query_one(ReplyPanel)
        if panel.is_open and panel.highlighted is not None and panel.texts:
            return panel.texts[panel.highlighted].strip()
        for turn in reversed(self.turns):
            if turn.speaker == "character":
                return turn.text
        return ""

    def action_insert(self, dialogue: bool) -> None:
        reply = self._reply_to_insert()
        if not reply:
            self.app.notify("No reply to insert yet.", severity="warning")
            return
        text = as_dialogue(reply, self.name_shown) if dialogue else reply
        # A reply is not a continuation of the story's last word: it starts a new word (the
        # join rule drops that space at a paragraph start or after a typed space).
        self.writing.editor.insert_generated(" " + text.lstrip())
        self.app.notify("Inserted into the story at the cursor.")

    def action_cancel_or_close(self) -> None:
        if self.running:
            self.cancel.set()
            self.running = False
            self.query_one(ReplyPanel).finish("cancelled")
            return
        self.cancel.set()
        self.dismiss(None)

    def on_unmount(self) -> None:
        self.cancel.set()

    # -- showing the transcript --------------------------------------------------------------------
    def _show_transcript(self) -> None:
        name = self.name_shown or "?"
        parts: list[Content] = []
        for turn in self.turns:
            who = AUTHOR_TAG if turn.speaker == "author" else name
            parts.append(Content.assemble((f"{who}: ", "bold $accent"), turn.text, "\n"))
        if not parts:
            parts.append(
                Content("Give a name (or reopen a chat above), then type a line and press enter.")
            )
        self.query_one("#transcript-text", Static).update(Content("").join(parts))
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)
        title = f"Chat with {self.name_shown}" if self.name_shown and self.turns else "Chat"
        self.query_one("#transcript").border_title = title
