"""Pilot tests of the chat screen (shift+f8): send, replies stream, pick, insert, reopen."""

from __future__ import annotations

import threading
import time

from tests.ui.test_app_support import ScriptedEngine, loader_for, notified, run_app, wait_for
from writer.engine.types import (
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationStats,
    TokenDelta,
)
from writer.store import DraftStore
from writer.ui.app import WriterApp
from writer.ui.screens.chat import ChatScreen, ReplyPanel, as_dialogue


class ChatEngine(ScriptedEngine):
    """Each candidate i says " Reply i." and then runs on into the author's next turn, one
    piece per step (`delay` apart), unless cancelled: the chat must cut it at its turn's end."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.prompts: list[str] = []
        self.contexts: list = []
        self.gate = threading.Event()
        self.gate.set()

    def stream(self, prompt, params, n=3, seed=None, mode="continue", cancel=None, **kw):
        self.prompts.append(prompt)
        self.contexts.append(kw.get("context"))
        pieces = [" Reply", " {i}.", "\n", "Interviewer:", " What", " next?"]
        texts = [""] * n
        cancelled = False
        for piece in pieces:
            self.gate.wait(10)
            if cancel is not None and cancel():
                cancelled = True
                break
            if self.delay:
                time.sleep(self.delay)
            for i in range(n):
                texts[i] += piece.format(i=i)
                yield TokenDelta(i, piece.format(i=i))
        cands = [Candidate(t, 6, -1.0, i, i, "length") for i, t in enumerate(texts)]
        for cand in cands:
            yield CandidateDone(cand.index, cand)
        yield GenerationDone(cands, GenerationStats(3, 0, 6 * n, 0.01, 0.02), cancelled, 0, prompt)


def test_as_dialogue() -> None:
    assert as_dialogue("I sail.", "Mara") == '"I sail," said Mara.'
    assert as_dialogue("Why?", "Mara") == '"Why?" said Mara.'
    assert as_dialogue("“Never”", "Mara") == '"Never," said Mara.'
    assert as_dialogue("Well...", "Mara") == '"Well..." said Mara.'


async def _send(pilot, screen: ChatScreen, line: str) -> None:
    screen.query_one("#line").focus()
    screen.query_one("#line").value = line
    await pilot.press("enter")


async def test_chat_send_stream_pick_insert_and_reopen_after_restart(tmp_path) -> None:
    story = tmp_path / "story.md"
    story.write_text("The boat came in at night.\n", encoding="utf-8")
    engine = ChatEngine()
    app = WriterApp(story, engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 40)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        await wait_for(pilot, lambda: "boat" in app.writing.editor.text)
        app.writing.editor.move_cursor(app.writing.editor.document.end)
        await pilot.press("shift+f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = app.screen
        await pilot.press(*"Mara")
        await pilot.pause()
        await _send(pilot, screen, "")  # nothing to say: a notice, no request
        await wait_for(pilot, lambda: notified(app, "Type a line"))
        assert engine.prompts == []
        engine.gate.clear()  # hold the stream to see it running
        await _send(pilot, screen, "Who are you?")
        panel = screen.query_one(ReplyPanel)
        await wait_for(pilot, lambda: panel.is_open and panel.running)
        engine.gate.set()
        await wait_for(pilot, lambda: not panel.running and all(panel.finished))
        assert panel.texts == ["Reply 0.", "Reply 1.", "Reply 2."]  # cut before the author
        prompt = engine.prompts[-1]
        assert "The boat came in at night." in prompt
        assert prompt.endswith("Interviewer: Who are you?\nMara:")
        await pilot.press("ctrl+r")  # again: a new request for the same line
        await wait_for(pilot, lambda: len(engine.prompts) == 2 and not panel.running)
        assert engine.prompts[1] == prompt
        await pilot.press("2")
        await wait_for(pilot, lambda: not panel.is_open)
        shown = str(screen.query_one("#transcript-text").render())
        assert "Interviewer: Who are you?" in shown and "Mara: Reply 1." in shown
        await pilot.press("f2")
        await wait_for(pilot, lambda: "said Mara" in app.writing.editor.text)
        assert app.writing.editor.text.rstrip().endswith('night.\n"Reply 1," said Mara.')
        await _send(pilot, screen, "And then?")
        await wait_for(pilot, lambda: len(engine.prompts) == 3 and not panel.running)
        assert engine.prompts[2].endswith(
            "Interviewer: Who are you?\nMara: Reply 1.\nInterviewer: And then?\nMara:"
        )
        await pilot.press("escape")  # replies to "And then?" are left unpicked
        await wait_for(pilot, lambda: app.screen is not screen)
        draft_id = app.writing.drafts.draft.id
    with DraftStore.open() as store:
        (chat,) = store.chats.for_draft(draft_id)
        assert chat.character == "Mara" and chat.turn_count == 3
    app = WriterApp(story, engine_loader=loader_for(engine))  # a restart
    async with run_app(app, size=(110, 40)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        await pilot.press("shift+f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = app.screen
        chats = screen.query_one("#chats")
        assert chats.option_count == 1
        chats.focus()
        chats.highlighted = 0
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "Reply 1." in str(screen.query_one("#transcript-text").render())
        )
        await _send(pilot, screen, "Tell me more.")
        panel = screen.query_one(ReplyPanel)
        await wait_for(pilot, lambda: len(engine.prompts) == 4 and not panel.running)
        assert "Interviewer: And then?\nInterviewer: Tell me more.\nMara:" in engine.prompts[3]
        await pilot.press("1")
        await wait_for(pilot, lambda: not panel.is_open)
    with DraftStore.open() as store:
        turns = store.chats.get(chat.id).turns
        assert [t.text for t in turns][-2:] == ["Tell me more.", "Reply 0."]
        assert len(turns) == 5


class FailingEngine(ChatEngine):
    def stream(self, prompt, params, n=3, seed=None, mode="continue", cancel=None, **kw):
        from writer.errors import WriterError

        raise WriterError("the server went away; start it again")
        yield  # a generator, like the others


async def test_chat_refuses_bad_names_waits_for_the_model_and_reports_failures(tmp_path) -> None:
    gate = threading.Event()

    def slow_loader(name, device):
        gate.wait(30)
        return FailingEngine()

    app = WriterApp(engine_loader=slow_loader)
    async with run_app(app, size=(110, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Chat with a character" in titles
        app.writing.editor.insert("Night fell.")
        await pilot.press("shift+f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = app.screen
        await _send(pilot, screen, "Hello?")  # no name yet
        await wait_for(pilot, lambda: notified(app, "name is empty"))
        screen.query_one("#name").value = "Mara: the smuggler"
        await _send(pilot, screen, "Hello?")
        await wait_for(pilot, lambda: notified(app, "cannot contain ':'"))
        screen.query_one("#name").value = "Mara"
        await _send(pilot, screen, "Hello?")  # the model is still loading
        await wait_for(pilot, lambda: notified(app, "still loading"))
        assert screen.turns == []
        gate.set()
        await wait_for(pilot, lambda: app.model.engine is not None, 30)
        await _send(pilot, screen, "Hello?")
        await wait_for(pilot, lambda: notified(app, "the server went away"))
        assert not screen.running
        await pilot.press("f2")  # nothing picked: nothing to insert
        await wait_for(pilot, lambda: notified(app, "No reply to insert"))
        assert app.writing.editor.text == "Night fell."
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChatScreen))


async def test_description_comes_from_the_drafts_lorebook_then_memory() -> None:
    from writer.engine.story.context import LoreEntry, StoryContext

    lore = (
        LoreEntry(keys=("Mara",), text="Mara smuggles salt."),
        LoreEntry(keys=("boat",), text="The boat leaks."),
    )
    with DraftStore.open() as store:
        draft = store.create_draft("Sea", "Mara waited by the boat.")
        store.context.save(draft.id, StoryContext(memory="A sea story.", lorebook=lore))
    engine = ChatEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.model.engine is not None and app.writing.drafts.draft is not None, 30
        )
        assert app.writing.drafts.draft.id == draft.id
        await pilot.press("shift+f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = app.screen
        await pilot.press(*"Tom")
        await wait_for(pilot, lambda: screen.query_one("#about").value == "A sea story.")
        await pilot.press("backspace", "backspace", "backspace", *"mara")
        await wait_for(pilot, lambda: screen.query_one("#about").value == "Mara smuggles salt.")
        await _send(pilot, screen, "Who are you?")
        panel = screen.query_one(ReplyPanel)
        await wait_for(pilot, lambda: engine.prompts and not panel.running)
        context = engine.contexts[-1]
        assert context.memory == "mara: Mara smuggles salt."
        assert [e.text for e in context.lorebook] == ["The boat leaks."]  # not twice
