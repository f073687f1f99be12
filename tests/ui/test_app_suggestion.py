"""The inline suggestion: off by default; after a pause a greyed suggestion;
right arrow accepts it, any other key dismisses it; typing cancels a running request."""

from __future__ import annotations

from tests.ui.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.config import Config
from writer.ui.app import WriterApp
from writer.ui.writing.suggestion import first_sentence

SUGGESTED = " c0t0 c0t1 c0t2 c0t3"  # what ScriptedEngine's one candidate says


def _app(engine: ScriptedEngine, **config) -> WriterApp:
    return WriterApp(
        engine_loader=loader_for(engine),
        config=Config(**config),
        autosave_interval=0.05,
    )


async def _type(pilot, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


def _calls(engine: ScriptedEngine) -> list[dict]:
    return [c for c in engine.calls if c.get("n") == 1]


async def test_off_by_default_no_request_and_no_ghost_text():
    engine = ScriptedEngine()
    app = _app(engine)  # Config(): inline_suggestion = false
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, "Once upon a time")
        assert app.writing.editor.suggester is None  # no timer is ever started
        await pilot.pause(1.3)  # longer than the default pause
        assert app.writing.editor.suggestion == "" and engine.calls == []


async def test_appears_after_a_pause_and_right_arrow_accepts_it():
    engine = ScriptedEngine()
    app = _app(engine, inline_suggestion=True, suggestion_pause=0.2)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, "Once upon a time")
        await wait_for(pilot, lambda: app.writing.editor.suggestion == SUGGESTED)
        call = _calls(engine)[-1]  # (a slow machine may pause between letters too)
        assert call["prompt"] == "Once upon a time"
        assert call["params"].max_new_tokens == 12
        assert app.writing.editor.text == "Once upon a time"  # ghost text only, until accepted
        await pilot.press("right")
        assert app.writing.editor.text == "Once upon a time" + SUGGESTED
        assert app.writing.editor.suggestion == ""
        assert app.writing.editor.cursor_location == (0, len("Once upon a time" + SUGGESTED))
        await pilot.press("ctrl+z")  # the suggestion is its own undo step
        assert app.writing.editor.text == "Once upon a time"


async def test_any_other_key_dismisses_and_changes_nothing_else():
    engine = ScriptedEngine()
    app = _app(engine, inline_suggestion=True, suggestion_pause=0.2)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, "The fox")
        await wait_for(pilot, lambda: app.writing.editor.suggestion == SUGGESTED)
        await pilot.press("left")  # a move: the suggestion goes, the text stays
        assert app.writing.editor.suggestion == "" and app.writing.editor.text == "The fox"
        await pilot.press("end")
        await wait_for(pilot, lambda: app.writing.editor.suggestion == SUGGESTED)
        await pilot.press("space")  # typing, even a character the suggestion starts with
        assert app.writing.editor.suggestion == "" and app.writing.editor.text == "The fox "
        await wait_for(pilot, lambda: app.writing.editor.suggestion != "")
        assert app.writing.editor.suggestion == SUGGESTED.lstrip()  # after a space, no double space
        await pilot.press("escape")
        assert app.writing.editor.suggestion == "" and app.writing.editor.text == "The fox "


class RecordingEngine(ScriptedEngine):
    """ScriptedEngine that notes, per prompt, the step count when its stream began and ended."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.began: dict[str, int] = {}
        self.ended: dict[str, int] = {}

    def stream(self, prompt, *args, **kw):
        self.began[prompt] = self.steps_done
        try:
            yield from super().stream(prompt, *args, **kw)
        finally:
            self.ended[prompt] = self.steps_done


async def test_typing_cancels_a_running_request():
    engine = RecordingEngine(delay=0.05, tokens=400)  # 20 s unless cancelled
    app = _app(engine, inline_suggestion=True, suggestion_pause=0.2)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, "Rain")
        await wait_for(
            pilot, lambda: "Rain" in engine.began and engine.steps_done > engine.began["Rain"]
        )
        assert app.writing.editor.suggester is not None and app.writing.editor.suggester.running
        await _type(pilot, "y")
        await wait_for(pilot, lambda: "Rain" in engine.ended, timeout=5)
        assert engine.ended["Rain"] - engine.began["Rain"] < 100  # not the 400 steps
        assert app.writing.editor.suggestion == "" and app.writing.editor.text == "Rainy"


async def test_nothing_is_asked_in_a_read_only_editor():
    engine = ScriptedEngine()
    app = _app(engine, inline_suggestion=True, suggestion_pause=0.2)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, "Kept")
        await wait_for(pilot, lambda: app.writing.editor.suggestion != "")
        app.writing.editor.read_only = True  # as for a draft another window is editing
        await pilot.press("left")
        assert app.writing.editor.suggestion == ""
        asked = len(_calls(engine))
        app.writing.editor.suggester._paused()  # the pause ends: no request, nothing shown
        assert len(_calls(engine)) == asked and not app.writing.editor.suggester.running


def test_a_suggestion_ends_with_its_first_sentence():
    assert first_sentence(" she said. Then she left.") == " she said."
    assert first_sentence(' "Go!" he cried. More') == ' "Go!"'
    assert first_sentence(" the end\nNext line") == " the end"
    assert first_sentence("\nA new paragraph") == ""


async def test_the_suggestion_joins_the_story_like_a_candidate():
    """After a typed space it adds no second space; at a paragraph start no leading one."""
    engine = ScriptedEngine()
    app = _app(engine, inline_suggestion=True, suggestion_pause=0.2)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, "Once upon ")
        await wait_for(pilot, lambda: app.writing.editor.suggestion == SUGGESTED.lstrip())
        await pilot.press("right")
        assert app.writing.editor.text == "Once upon " + SUGGESTED.lstrip()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.writing.editor.suggestion == SUGGESTED.lstrip())
