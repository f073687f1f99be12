"""Pilot tests of the story context: f8 dialog, the viewer, requests using it, ctx in the status
bar, and the new samplers in f2."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.ui.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.engine.story.context import StoryContext
from writer.engine.story.lorebook import LoreEntry
from writer.ui.app import WriterApp
from writer.ui.screens.context import ContextScreen, ContextViewer
from writer.ui.screens.parameters import ParametersScreen


class RecordingEngine:
    """The tiny GPT-2 engine, recording the context each request passed."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.tokenizer = engine.tokenizer
        self.context_size = engine.context_size
        self.contexts: list[StoryContext | None] = []
        for name in ("name", "device", "precision", "supports_logprobs", "max_candidates"):
            setattr(self, name, getattr(engine, name))
        self.supports_prefix_cache = engine.supports_prefix_cache

    def stream(
        self, prompt, params, n=3, seed=None, mode="continue", cancel=None, context=None, **kw
    ):
        self.contexts.append(context)
        return self.engine.stream(
            prompt, params, n=n, seed=seed, mode=mode, cancel=cancel, context=context, **kw
        )


async def test_context_dialog_viewer_request_and_status(tiny_engine, tmp_path) -> None:
    engine = RecordingEngine(tiny_engine)
    story = tmp_path / "story.md"
    story.write_text("The dragon slept by the sea.\nNobody woke it.\n", encoding="utf-8")
    app = WriterApp(story, engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 45)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 60)
        app.writing.overrides = {"max_new_tokens": 8}
        await wait_for(pilot, lambda: "dragon" in app.writing.editor.text)
        app.writing.editor.move_cursor(
            app.writing.editor.document.end
        )  # the story: the text before the cursor
        await pilot.pause()
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        dialog = app.screen
        dialog.query_one("#memory").load_text("Mara is a smuggler.")
        dialog.query_one("#note").load_text("Keep it tense.")
        lore = dialog.query_one("#lorebook")
        lore.load_text('[[entry]]\nkeys = ["dragon"\n')  # broken TOML: refused in place
        await pilot.press("ctrl+s")
        assert app.screen is dialog
        assert "not valid TOML" in str(dialog.query_one("#error").render())
        lore.load_text(
            '[[entry]]\nkeys = ["dragon"]\ntext = "Dragons hoard songs."\n\n'
            '[[entry]]\nkeys = ["unicorn"]\ntext = "Unicorns are shy."\n'
        )
        await pilot.press("f8")  # what the model will see
        await wait_for(pilot, lambda: isinstance(app.screen, ContextViewer))
        viewer = app.screen
        await wait_for(pilot, lambda: viewer.assembled is not None or viewer.problem, 30)
        assert not viewer.problem
        b = viewer.assembled.breakdown
        assert b.memory > 0 and b.note > 0 and b.lorebook > 0 and b.story > 0
        assert [use.index for use in b.entries] == [1]  # only the dragon is in the story
        titles = [str(w.render()) for w in viewer.query(".part-title")]
        assert f"Memory · {b.memory} tokens" in titles
        assert f"Author's note · {b.note} tokens" in titles
        texts = " ".join(str(w.render()) for w in viewer.query(".part-text"))
        assert "Mara is a smuggler." in texts and "Dragons hoard songs." in texts
        assert "Unicorns" not in texts
        summary = str(viewer.query_one("#summary").render())
        assert f"{b.total} of {b.window} tokens" in summary
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dialog)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ContextScreen))
        stored = app.writing.drafts.store.context.load(app.writing.drafts.draft.id)
        assert stored.memory == "Mara is a smuggler." and stored.note == "Keep it tense."
        assert stored.lorebook[0] == LoreEntry(keys=("dragon",), text="Dragons hoard songs.")
        await wait_for(pilot, lambda: app.writing.status.context_fill.startswith("ctx "), 30)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.contexts and not app.writing.panel.running, 60)
        sent = engine.contexts[-1]  # the stored context, with the request's recall
        assert replace(sent, recall_tokens=None) == stored and sent.recaller is not None
        fill = app.writing.status.context_fill
        used, window = fill.removeprefix("ctx ").split("/")
        assert int(window) == engine.context_size and 0 < int(used) <= int(window)
        assert fill in str(app.writing.status.render())


async def test_f2_covers_the_new_samplers_and_refuses_a_bad_min_p_in_place() -> None:
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 50)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ParametersScreen))
        screen = app.screen
        min_p = screen.query_one("#min_p")
        min_p.value = "1.5"
        await wait_for(
            pilot, lambda: "min_p must be" in str(screen.query_one("#min_p-error").render())
        )
        await pilot.press("ctrl+s")
        assert app.screen is screen  # refused: still open
        min_p.value = "0.1"
        screen.query_one("#dry_multiplier").value = "0.8"
        screen.query_one("#ban").value = "suddenly | all of a sudden"
        screen.query_one("#bias").value = "dragon=2 | cat=-1.5"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not screen)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls and not app.writing.panel.running)
        params = engine.calls[0]["params"]
        assert params.min_p == 0.1 and params.dry_multiplier == 0.8
        assert params.ban == ("suddenly", "all of a sudden")
        assert params.bias == (("dragon", 2.0), ("cat", -1.5))


@pytest.mark.parametrize(
    ("field", "bad", "reason"),
    [
        ("typical_p", "0", "typical_p must be"),
        ("dry_base", "9", "dry_base must be"),
        ("dry_allowed_length", "x", "dry_allowed_length"),
        ("repetition_range", "-1", "repetition_range"),
        ("bias", "dragon", "bias must look like"),
    ],
)
async def test_f2_refuses_each_new_sampler_in_place(field, bad, reason) -> None:
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=(110, 50)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ParametersScreen))
        screen = app.screen
        screen.query_one(f"#{field}").value = bad
        await wait_for(pilot, lambda: reason in str(screen.query_one(f"#{field}-error").render()))
        await pilot.press("ctrl+s")
        assert app.screen is screen


async def test_lorebook_import_and_export_in_the_dialog(tmp_path) -> None:
    source = tmp_path / "lore.toml"
    source.write_text('[[entry]]\nkeys = ["wyrm"]\ntext = "Wyrms sing."\n', encoding="utf-8")
    out = tmp_path / "out.toml"
    out.write_text("keep me", encoding="utf-8")
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=(110, 45)) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        dialog = app.screen
        path = dialog.query_one("#path")
        path.value = str(tmp_path / "missing.toml")
        dialog.query_one("#import").press()
        await wait_for(pilot, lambda: "missing.toml" in str(dialog.query_one("#error").render()))
        path.value = str(source)
        dialog.query_one("#import").press()
        await wait_for(pilot, lambda: "Wyrms sing." in dialog.query_one("#lorebook").text)
        path.value = str(out)
        dialog.query_one("#export").press()
        await wait_for(
            pilot, lambda: "press Export again" in str(dialog.query_one("#error").render())
        )
        assert out.read_text(encoding="utf-8") == "keep me"  # not replaced without consent
        dialog.query_one("#export").press()
        await wait_for(pilot, lambda: "Wyrms sing." in out.read_text(encoding="utf-8"))
        from writer.engine.story.lorebook import load_lorebook

        assert load_lorebook(out) == load_lorebook(source)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ContextScreen))
        await wait_for(
            pilot, lambda: app.writing.drafts.draft is not None
        )  # created to hold the context
        assert app.writing.drafts.store.context.load(
            app.writing.drafts.draft.id
        ).lorebook == load_lorebook(source)


async def test_viewer_says_why_when_the_engine_has_no_tokenizer() -> None:
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=(110, 45)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        dialog = app.screen
        dialog.query_one("#note_depth").value = "many"
        await pilot.press("f8")
        assert app.screen is dialog
        assert "note_depth must be a whole number" in str(dialog.query_one("#error").render())
        dialog.query_one("#note_depth").value = "2"
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextViewer))
        viewer = app.screen
        await wait_for(pilot, lambda: viewer.problem)
        assert "tokenizer" in viewer.problem
        assert "tokenizer" in str(viewer.query_one("#summary").render())
