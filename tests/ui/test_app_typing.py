"""Typed keys that arrive in a burst (issue 10, item 1): a paste from a terminal without
bracketed paste is one key event per character. The editor inserts a burst as a few edits; the
text, the undo steps, a selection, a read-only editor, the inline suggestion and key bindings
pressed among the typed keys behave as when each key is handled alone."""

from __future__ import annotations

import gc
import time
import weakref

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.keys import _character_to_key
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from tests.ui.test_app_support import (
    ScriptedEngine,
    loader_for,
    message_log,
    run_app,
    wait_for,
)
from writer.config import Config
from writer.store import DraftStore
from writer.ui.app import WriterApp
from writer.ui.widgets.editor import StoryEditor


def key_event(key: str) -> events.Key:
    """The event a terminal sends for `key`: one character ("a", " ", "\\n") or a key name."""
    if key == "\n":
        return events.Key("enter", "\r")
    if len(key) == 1:
        return events.Key(key if key.isalnum() else _character_to_key(key), key)
    return events.Key(key, None)


def burst(app: App, keys) -> None:
    """Post every key to the app at once, as a raw paste arrives (Pilot.press waits after each)."""
    for key in keys:
        event = key_event(key)
        event.set_sender(app)
        app.post_message(event)


def edits(changes: list[TextArea.Changed]) -> int:
    """How many edits posted these Changed messages (each is handled by every ancestor)."""
    return len({id(change) for change in changes})


def pilot_keys(text: str) -> list[str]:
    """`text` as Pilot.press key names, one key at a time."""
    names = {" ": "space", "\n": "enter"}
    return [names.get(c, c if c.isalnum() else _character_to_key(c)) for c in text]


class Pad(App):
    """One text area, to compare a StoryEditor with Textual's own TextArea."""

    def __init__(self, editor: TextArea) -> None:
        super().__init__()
        self.editor = editor

    def compose(self) -> ComposeResult:
        yield self.editor


START = "Hello world, this is the start.\nSecond line."
TYPED = (
    "there, "
    + "and then the old fox walked down to the river " * 3
    + "\n\nA new paragraph,\n"
    + "x"
    + "\nlonger than a hundred characters so that an undo step ends inside it: " * 2
)


async def undo_redo_trail(pilot, editor: TextArea) -> list[tuple[str, tuple[int, int]]]:
    """The text and cursor after each ctrl+z until nothing is left to undo, then each ctrl+y."""
    trail = [(editor.text, editor.cursor_location)]
    for key in ("ctrl+z", "ctrl+y"):
        while True:
            before = (editor.text, editor.cursor_location)
            await pilot.press(key)
            after = (editor.text, editor.cursor_location)
            if after == before:
                break
            trail.append(after)
    return trail


async def test_a_burst_lands_as_keys_typed_one_by_one_with_the_same_undo_steps():
    # Textual's own TextArea, one key at a time: how typing behaved before.
    pad = Pad(TextArea(START, soft_wrap=True))
    async with pad.run_test() as pilot:
        pad.editor.selection = Selection((0, 6), (0, 11))  # "world": the first key replaces it
        await pilot.pause()
        burst(pad, TYPED)  # TextArea handles each key on its own, whenever they arrive
        await wait_for(pilot, lambda: len(pad.editor.text) == len(START) - 5 + len(TYPED))
        expected_text = pad.editor.text
        expected = await undo_redo_trail(pilot, pad.editor)
    assert expected_text.startswith("Hello there, and then") and "\n\nA new" in expected_text
    assert len(expected) > 8  # several undo steps (a newline, every 100 characters)

    editor = StoryEditor(START)
    story = Pad(editor)
    changes: list[TextArea.Changed] = []

    def hook(message) -> None:
        if isinstance(message, TextArea.Changed):
            changes.append(message)

    async with story.run_test(message_hook=hook) as pilot:
        editor.selection = Selection((0, 6), (0, 11))
        await pilot.pause()
        changes.clear()
        burst(story, TYPED)
        await wait_for(pilot, lambda: editor.text == expected_text)
        # A few edits, not one per key (each costs a re-wrap of the line and a Changed).
        assert 0 < edits(changes) <= 12 < len(TYPED)
        assert editor.cursor_location == expected[0][1]
        assert await undo_redo_trail(pilot, editor) == expected


async def test_a_binding_pressed_among_typed_keys_acts_in_order():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        burst(app, ["a", "b", "c", "left", "X", "ctrl+home", "Y", "end", "Z", "ctrl+z", "!"])
        # "abc", left: "ab|c", X: "abX|c", ctrl+home: "|abXc", Y: "Y|abXc", end, Z: "YabXcZ|";
        # ctrl+z undoes the typing since the cursor moved (Z), then "!" at the same place.
        await wait_for(pilot, lambda: app.writing.editor.text == "YabXc!")
        assert app.writing.editor.cursor_location == (0, 6)


async def test_a_read_only_editor_takes_nothing_from_a_burst():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press("a", "b")
        app.writing.editor.read_only = True
        burst(app, [*"some pasted words", "left", "left", *" more"])
        await wait_for(pilot, lambda: app.writing.editor.cursor_location == (0, 0))
        await pilot.pause()
        assert app.writing.editor.text == "ab"


async def test_a_burst_dismisses_the_inline_suggestion_and_goes_in():
    app = WriterApp(
        engine_loader=loader_for(ScriptedEngine()),
        config=Config(inline_suggestion=True, suggestion_pause=0.2),
        autosave_interval=0.05,
    )
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press(*pilot_keys("Once"))
        await wait_for(pilot, lambda: app.writing.editor.suggestion != "")
        burst(app, " upon a time")
        await wait_for(pilot, lambda: app.writing.editor.text == "Once upon a time")
        assert app.writing.editor.suggestion == ""  # until the next pause
        await wait_for(pilot, lambda: app.writing.editor.suggestion != "")


async def test_a_2000_word_raw_paste_into_a_long_story_is_shown_and_saved_quickly(tmp_path):
    # Before, every key re-wrapped the paragraph it went into and re-measured the whole
    # document: a 2,000-word raw paste took 20-40 s in the app (bench/manuscript.py).
    paragraph = "The old fox walked slowly down to the river and looked at the water. " * 20
    story = tmp_path / "novel.txt"
    story.write_text("\n\n".join([paragraph] * 150), encoding="utf-8")  # ~200 KB
    words = " " + " ".join(["the", "old", "fox", "walked"] * 500) + " pasteendzq"
    app = WriterApp(story, engine_loader=loader_for(ScriptedEngine()), autosave_interval=0.2)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text.startswith("The old fox"))
        await wait_for(
            pilot, lambda: app.writing.editor.cursor_location == app.writing.editor.document.end
        )
        start = time.monotonic()
        burst(app, words)
        await wait_for(pilot, lambda: app.writing.editor.text.endswith("pasteendzq"), 30)
        shown = time.monotonic() - start
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved", 30)
        changes = message_log(app).of(TextArea.Changed)
        assert edits(changes) < len(words) // 50  # a few edits, not one per key
        # Generous for a busy test machine; the bench measures the real figure.
        assert shown < 10, f"{shown:.1f} s"
        with DraftStore.open() as store:
            assert store.find_by_external_path(story).text.endswith("pasteendzq")
    assert story.read_text(encoding="utf-8").rstrip().endswith("pasteendzq")


class CyclicEngine(ScriptedEngine):
    """An engine only the garbage collector can free (it is in a reference cycle)."""

    def __init__(self) -> None:
        super().__init__()
        self.me = self


async def test_the_loaded_model_is_left_out_of_full_collections_and_a_replaced_one_freed():
    # Full collections walked the model's and torch's objects: ~150 ms stalls while typing.
    engines: list[weakref.ref] = []

    def load(name: str, device: str | None) -> CyclicEngine:
        engine = CyclicEngine()
        engines.append(weakref.ref(engine))
        return engine

    app = WriterApp(engine_loader=load)
    try:
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
            assert gc.get_freeze_count() > 10_000  # the app, its widgets, the imports
            app.model.load("another")
            await wait_for(pilot, lambda: len(engines) == 2 and app.model.engine is engines[1]())
            assert engines[0]() is None  # the engine it replaced was not kept frozen
    finally:
        gc.unfreeze()


async def test_the_view_follows_the_cursor_to_the_end_of_a_long_burst():
    # A burst that adds many wrapped rows at once: TextArea scrolls to the cursor before it
    # re-measures the document, so the view stopped rows short of the cursor, and the end of
    # a raw paste stayed off screen (seen after a bracketed paste in bench/manuscript.py).
    editor = StoryEditor("Start.\n" * 50)
    pad = Pad(editor)
    async with pad.run_test(size=(60, 12)) as pilot:
        editor.move_cursor(editor.document.end)
        await pilot.pause()
        burst(pad, " ".join(["the", "old", "fox", "walked"] * 150) + " pasteendzq")
        await wait_for(pilot, lambda: editor.text.endswith("pasteendzq"))
        await pilot.pause()
        _, cursor_y = editor.cursor_screen_offset
        assert editor.region.y <= cursor_y < editor.region.bottom
        assert "pasteendzq" in "".join(
            strip.text for strip in editor.render_lines(editor.region.reset_offset)
        )


async def test_a_long_run_is_one_edit_with_an_undo_step_every_hundred_characters():
    # Each edit re-wraps its whole paragraph: a run cut into 100-character edits (the undo
    # steps) made a raw paste into a long paragraph quadratic. Now one edit, the same steps.
    run = "the old fox walked down to the river " * 10  # 370 characters, no newline
    pad = Pad(TextArea(START, soft_wrap=True))
    async with pad.run_test() as pilot:
        pad.editor.move_cursor((1, 0))
        burst(pad, run)
        await wait_for(pilot, lambda: run in pad.editor.text)
        expected = await undo_redo_trail(pilot, pad.editor)
    assert len(expected) == 2 * 4 + 1  # 100 + 100 + 100 + 70 characters, undone and redone

    editor = StoryEditor(START)
    story = Pad(editor)
    changes: list[TextArea.Changed] = []
    hook = lambda m: changes.append(m) if isinstance(m, TextArea.Changed) else None  # noqa: E731
    async with story.run_test(message_hook=hook) as pilot:
        editor.move_cursor((1, 0))
        await pilot.pause()
        changes.clear()
        burst(story, run)
        await wait_for(pilot, lambda: run in editor.text)
        assert edits(changes) == 1
        assert await undo_redo_trail(pilot, editor) == expected


class PriorityKeys(WriterApp):
    """Priority bindings: on f5, and on "x" (which Textual drops while a text area has focus:
    the text area consumes printable keys)."""

    BINDINGS = [
        *WriterApp.BINDINGS,
        Binding("f5", "mark('f5')", priority=True),
        Binding("x", "mark('x')", priority=True),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.marks: list[str] = []

    def action_mark(self, key: str) -> None:
        self.marks.append(key)


async def test_priority_bindings_act_among_typed_keys_as_in_textual():
    # The App checks priority bindings without building Textual's binding chain for every key
    # (most of a raw paste's cost per key); a priority binding must still be found.
    app = PriorityKeys(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        burst(app, ["a", "f5", "b", "x"])
        await wait_for(pilot, lambda: app.writing.editor.text == "abx")
        assert app.marks == ["f5"]
        app.set_focus(None)  # nothing consumes "x" now
        await pilot.press("x", "f5")
        await wait_for(pilot, lambda: len(app.marks) == 3)
        assert app.marks == ["f5", "x", "f5"]


async def test_a_height_change_keeps_the_wrapping_and_a_width_change_rewraps():
    # The candidates panel opening or growing shrinks the editor's height: TextArea re-wrapped
    # the whole document on every resize (0.3-2 s for a 1 MB manuscript while typing).
    editor = StoryEditor(("The old fox walked slowly down to the river. " * 30 + "\n\n") * 20)
    pad = Pad(editor)
    async with pad.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        wraps = []
        original = editor.wrapped_document.wrap
        editor.wrapped_document.wrap = lambda *a, **k: (wraps.append(a), original(*a, **k))
        rows = editor.wrapped_document.height
        await pilot.resize_terminal(80, 12)
        await wait_for(pilot, lambda: editor.outer_size.height == 12)
        await pilot.pause()
        assert wraps == [] and editor.virtual_size.height == rows
        await pilot.resize_terminal(50, 12)
        await wait_for(pilot, lambda: editor.outer_size.width == 50)
        await pilot.pause()
        assert wraps and editor.wrapped_document.height > rows  # narrower: more rows
        assert editor.virtual_size.height == editor.wrapped_document.height


async def test_the_editor_text_and_wrapped_height_stay_exact_through_edits():
    # Textual drew every row of the editor by joining the whole text and summing the wrapped
    # height over every line (both ~1 ms on a 1 MB manuscript, per row drawn): the editor keeps
    # both until the next edit. They must never go stale.
    editor = StoryEditor("The old fox walked slowly down to the river. " * 12 + "\n\nEnd.")
    pad = Pad(editor)

    def exact() -> bool:
        wrapped = editor.wrapped_document
        height = sum(len(offsets) + 1 for offsets in wrapped._wrap_offsets)
        lines = editor.document.lines
        return editor.text == "\n".join(lines) and wrapped.height == height

    async with pad.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert exact() and editor.document.text is editor.document.text  # kept, not rejoined
        steps = [
            lambda: burst(pad, " and more words go in here " * 4),
            lambda: burst(pad, "\n\nA new paragraph\n"),
            lambda: editor.action_undo(),
            lambda: editor.action_redo(),
            lambda: editor.delete((0, 0), (1, 0)),
            lambda: editor.insert("inserted\ntwo lines\n", (0, 3)),
            lambda: editor.load_text("Loaded anew.\n" * 5),
        ]
        seen = {editor.text}
        for step in steps:
            step()
            await pilot.pause()
            await pilot.pause()
            assert exact()
            seen.add(editor.text)
        assert len(seen) == len(steps)  # every step but the undo-redo pair changed the text
        await pilot.resize_terminal(40, 20)
        await pilot.pause()
        assert exact() and editor.wrapped_document.height == editor.virtual_size.height
