"""Pilot tests of the writing flow: generate, stream, insert, undo, cancel, regenerate, presets."""

from __future__ import annotations

import pytest

from tests.ui.test_app_support import (
    ScriptedEngine,
    loader_for,
    message_log,
    notified,
    run_app,
    wait_for,
)
from writer.presets import BUILTIN_PRESETS
from writer.ui.app import WriterApp
from writer.ui.messages import CandidatesStarted, GenerationFinished
from writer.ui.screens.parameters import ParametersScreen
from writer.ui.widgets.editor import prompt_text

# Engine factories every engine-agnostic app test runs over (as harlequin runs its app tests over
# each adapter); a remote engine adds one entry here.
ENGINES = {
    "scripted": lambda request: ScriptedEngine(),
    "tiny-gpt2": lambda request: request.getfixturevalue("tiny_engine"),
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    """Each engine writer can drive, in turn."""
    return ENGINES[request.param](request)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def test_tiny_model_generate_insert_undo_and_save(tiny_engine, tmp_path):
    """The judged path on the real tiny GPT-2: type, ctrl+g, tab, 1, ctrl+s, ctrl+q."""
    story = tmp_path / "story.md"
    app = WriterApp(story, engine_loader=loader_for(tiny_engine))
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        app.writing.overrides = {"max_new_tokens": 12}  # keep the test quick on a busy machine
        await type_text(pilot, "Once upon a time")
        await pilot.press("ctrl+g")
        await wait_for(
            pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running, 30
        )
        assert len(app.writing.panel.texts) == 3
        assert any(text.strip() for text in app.writing.panel.texts)
        assert app.writing.status.speed is not None and app.writing.status.speed > 0
        await pilot.press("tab")
        assert app.focused is app.writing.panel
        chosen = app.writing.panel.texts[0]
        await pilot.press("1")
        await pilot.pause()
        # TextArea normalises line breaks (the tiny model emits stray "\r" and friends).
        expected = app.writing.editor.document.text
        assert lines("Once upon a time" + chosen) == lines(expected)
        assert app.focused is app.writing.editor and not app.writing.panel.is_open
        await pilot.press("ctrl+z")  # the insertion is one undo step
        assert app.writing.editor.text == "Once upon a time"
        await pilot.press("ctrl+y")
        await pilot.press("ctrl+s")
        await pilot.press("ctrl+q")
    assert story.read_text(encoding="utf-8") == expected


def lines(text: str) -> list[str]:
    return text.splitlines()


async def test_every_engine_generates_inserts_and_undoes(engine):
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        app.writing.overrides = {"max_new_tokens": 6}
        await type_text(pilot, "Once upon a time")
        await pilot.press("ctrl+g")
        await wait_for(
            pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running, 30
        )
        assert len(app.writing.panel.texts) == app.writing.candidate_count
        log = message_log(app)  # the request's messages all carry its id
        started = log.of(CandidatesStarted)[-1]
        assert started.n == app.writing.candidate_count
        assert log.of(GenerationFinished)[-1].request == started.request
        await pilot.press("tab", "1")
        await pilot.pause()
        assert app.writing.editor.text != "Once upon a time"
        await pilot.press("ctrl+z")
        assert app.writing.editor.text == "Once upon a time"


async def test_candidates_stream_while_typing_and_insert_at_cursor_then():
    engine = ScriptedEngine(delay=0.05, tokens=12)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await type_text(pilot, "The fox")
        await pilot.press("ctrl+g")
        # Streaming: partial text shows before the request ends.
        await wait_for(pilot, lambda: any(app.writing.panel.texts))
        assert app.writing.panel.running
        await type_text(pilot, " ran")  # typing continues during generation
        assert app.writing.editor.text == "The fox ran"
        await wait_for(pilot, lambda: not app.writing.panel.running)
        assert engine.calls[0]["prompt"] == "The fox"
        await pilot.press("tab", "down", "enter")  # the highlighted one: candidate 2
        await pilot.pause()
        assert app.writing.editor.text == "The fox ran" + app_texts(engine)[1]
        assert app.focused is app.writing.editor


def app_texts(engine: ScriptedEngine) -> list[str]:
    return ["".join(f" c{i}t{s}" for s in range(engine.tokens)) for i in range(3)]


async def test_escape_cancels_within_a_token_and_closes_panel():
    engine = ScriptedEngine(delay=0.05, tokens=400)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.steps_done >= 2)
        await pilot.press("escape")
        assert not app.writing.panel.is_open
        steps = engine.steps_done
        await pilot.pause(0.3)
        assert engine.steps_done <= steps + 1  # stopped within a token
        assert app.writing.editor.text == ""


async def test_regenerate_uses_a_new_seed_and_the_text_before_the_cursor():
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await type_text(pilot, "abc def")
        await pilot.press("left", "left", "left", "left")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: len(engine.calls) == 1 and not app.writing.panel.running)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(engine.calls) == 2 and not app.writing.panel.running)
        first, second = engine.calls
        assert first["prompt"] == second["prompt"] == "abc"
        assert first["seed"] != second["seed"]
        assert second["mode"] == "continue"


async def test_request_during_model_load_waits_then_runs():
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine, delay=0.6))
    async with run_app(app) as pilot:
        assert app.writing.status.model_state == "loading"
        await pilot.press("x", "ctrl+g")  # the editor takes keys while the model loads
        assert app.writing.editor.text == "x"
        await wait_for(
            pilot,
            lambda: app.writing.panel.is_open and not app.writing.panel.running and engine.calls,
        )
        assert app.writing.panel.texts[0].strip()


async def test_model_failure_is_reported_and_generation_fails_gracefully():
    def broken(name, device):
        from writer.errors import WriterError

        raise WriterError("no model 'nope'; pass --model PATH to a local folder")

    app = WriterApp(model="nope", engine_loader=broken)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "error")
        assert "no model 'nope'" in app.writing.status.model_detail
        await pilot.press("h", "ctrl+g")
        await wait_for(pilot, lambda: not app.writing.panel.running)
        await wait_for(pilot, lambda: notified(app, "did not load"))  # notify() is a message
        await wait_for(pilot, lambda: notified(app, "Generation failed"))
        assert app.writing.editor.text == "h"


async def test_plot_ideas_enter_as_a_marked_note_left_out_of_prompts():
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await type_text(pilot, "She ran.")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: engine.calls and not app.writing.panel.running)
        assert engine.calls[0]["mode"] == "ideas"
        await pilot.press("tab", "3")
        await pilot.pause()
        assert app.writing.editor.text == "She ran.\n[Idea: c2t0 c2t1 c2t2 c2t3]\n"
        assert prompt_text(app.writing.editor.text) == "She ran.\n"


async def test_preset_switch_applies_to_next_request_and_is_remembered():
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        names = list(app.writing.presets)
        target = names[(names.index("balanced") + 1) % len(names)]
        await pilot.press("down", "enter")
        assert app.writing.preset_name == target
        assert app.writing.status.preset == target
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls and not app.writing.panel.running)
        assert engine.calls[0]["params"] == BUILTIN_PRESETS[target].params
        assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).preset == target


@pytest.mark.parametrize(
    ("field", "bad", "reason"),
    [
        ("temperature", "9", "temperature must be"),
        ("candidates", "12", "candidates must be 1 to 9"),
    ],
)
async def test_parameters_refuse_invalid_values_in_place(field, bad, reason):
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 40)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ParametersScreen)
        field_input = screen.query_one(f"#{field}")
        field_input.value = bad
        await pilot.pause()
        assert reason in str(screen.query_one(f"#{field}-error").render())
        await pilot.press("ctrl+s")
        assert app.screen is screen  # refused: still open
        field_input.value = "2"
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert app.screen is not screen
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls and not app.writing.panel.running)
        call = engine.calls[0]
        if field == "candidates":
            assert call["n"] == 2
        else:
            assert call["params"].temperature == 2.0
            assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).overrides == {
                "temperature": 2.0
            }
            assert app.writing.status.preset == "balanced*"


async def test_help_lists_keys_and_tmux_prefixes_stay_free():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        from writer.ui.screens.help import help_rows

        assert app.screen.query_one("#keys")
        keys = {key for _, key, _ in help_rows()}
        assert {"ctrl+g", "ctrl+n", "ctrl+r", "ctrl+t", "f2", "ctrl+o", "ctrl+s"} <= keys
        bound = {key for binding in app.BINDINGS for key in binding.key.split(",")}
        assert not bound & {"ctrl+a", "ctrl+b"}


async def test_palette_switches_preset():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "Preset: wild")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.writing.preset_name == "wild")
        assert app.writing.status.preset == "wild"


async def test_models_screen_lists_finetuned_with_manifest_and_switches():
    import json

    from writer.paths import models_dir

    folder = models_dir() / "my-style"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"base": "gpt2", "steps": 150}))
    loaded: list[str] = []
    engine = ScriptedEngine()

    def loader(name, device):
        loaded.append(name)
        return engine

    app = WriterApp(model="base", engine_loader=loader)
    async with run_app(app, size=(110, 35)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press("f5")
        await wait_for(pilot, lambda: getattr(app.screen, "models", None))
        manifest = str(app.screen.query_one("#manifest").render())
        assert "my-style" in manifest and "steps: 150" in manifest
        await pilot.press("enter")
        await wait_for(pilot, lambda: loaded == ["base", "my-style"])
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        assert app.model.name == "my-style"
        assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).model == "my-style"


async def test_a_worker_error_nobody_caught_is_logged_and_shown_once():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))

    def boom() -> None:
        raise RuntimeError("something broke")

    async with run_app(app) as pilot:
        app.run_worker(boom, thread=True, exit_on_error=False, group="probe")
        await wait_for(pilot, lambda: notified(app, "probe failed: RuntimeError: something broke"))
        await pilot.press("a")
        assert app.writing.editor.text == "a"  # still running
    from writer.paths import log_path

    assert "something broke" in log_path().read_text(encoding="utf-8")
