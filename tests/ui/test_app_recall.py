"""Pilot tests of recall in the app: a request on a long draft recalls the passage that
introduced a name from far outside the window, the status bar counts it, f8's viewer lists it
and enter jumps there, and ctrl+l in f8 adds a suggested lorebook entry."""

from __future__ import annotations

from pathlib import Path

from tests.ui.test_app_context import RecordingEngine
from tests.ui.test_app_support import loader_for, run_app, wait_for
from writer.ui.app import WriterApp
from writer.ui.screens.context import ContextScreen, ContextViewer
from writer.ui.screens.recalled import LoreSuggestions

INTRO = "Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope."
FILLER = "The fox walked to the river and looked at the water in the morning {}."


def long_story() -> str:
    lines = [INTRO, *(FILLER.format(day) for day in range(45))]
    return "\n".join([*lines, "Nobody had seen Mirela Vask since the spring."]) + "\n"


def configure(env: dict[str, str]) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "writer" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    # The tiny model's window is 128 tokens: a cap the introduction (54 tokens) fits.
    config.write_text("recall_tokens = 64\n", encoding="utf-8")


async def test_a_request_recalls_and_f8_jumps_to_the_passage(
    tiny_engine, tmp_path, isolated_user_dirs
) -> None:
    configure(isolated_user_dirs)
    engine = RecordingEngine(tiny_engine)
    story = tmp_path / "story.md"
    story.write_text(long_story(), encoding="utf-8")
    app = WriterApp(story, engine_loader=loader_for(engine))
    async with run_app(app, size=(120, 45)) as pilot:
        writing = app.writing
        await wait_for(pilot, lambda: writing.status.model_state == "ready", 60)
        writing.overrides = {"max_new_tokens": 6}
        await wait_for(pilot, lambda: "Mirela" in writing.editor.text)
        writing.editor.move_cursor(writing.editor.document.end)
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.contexts and not writing.panel.running, 60)
        sent = engine.contexts[-1]
        assert sent is not None and sent.recall_on
        fill = writing.status.context_fill
        used, window = (int(x) for x in fill.removeprefix("ctx ").split("/"))
        assert window == 128 and used > 64  # the recalled passage is counted

        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextViewer))
        viewer = app.screen
        await wait_for(pilot, lambda: viewer.assembled is not None or viewer.problem, 30)
        b = viewer.assembled.breakdown
        assert [p.text for p in b.recalled] == [INTRO] and b.recall > 0
        assert {"mirela", "vask"} <= set(b.recalled[0].why)
        assert f"Recalled passages · {b.recall} tokens" in [
            str(w.render()) for w in viewer.query(".part-title")
        ]
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "recalled")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is writing)
        assert writing.editor.cursor_location == (0, 0)

        # Recall off for this draft (f8's recall tokens 0): the story's end only, as before.
        writing.editor.move_cursor(writing.editor.document.end)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        app.screen.query_one("#recall_tokens").value = "0"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is writing)
        assert writing.drafts.store.context.load(writing.drafts.draft.id).recall_tokens == 0
        engine.contexts.clear()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.contexts and not writing.panel.running, 60)
        assert engine.contexts[-1] is None  # no memory, note or lorebook, no recall


async def test_ctrl_l_in_f8_adds_a_suggested_entry(tiny_engine, tmp_path) -> None:
    story = tmp_path / "story.md"
    story.write_text(long_story(), encoding="utf-8")
    app = WriterApp(story, engine_loader=loader_for(RecordingEngine(tiny_engine)))
    async with run_app(app, size=(120, 45)) as pilot:
        writing = app.writing
        await wait_for(pilot, lambda: "Mirela" in writing.editor.text)
        writing.editor.move_cursor(writing.editor.document.end)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        dialog = app.screen
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LoreSuggestions))
        suggestions = app.screen
        await wait_for(pilot, lambda: suggestions.suggestions)
        first = suggestions.suggestions["0"]
        assert first.name == "Mirela Vask"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "0" not in suggestions.suggestions)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dialog)
        lore = dialog.query_one("#lorebook").text
        assert 'keys = ["Mirela Vask"]' in lore and INTRO in lore
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is writing)
        stored = writing.drafts.store.context.load(writing.drafts.draft.id)
        assert stored.lorebook[0].keys == ("Mirela Vask",)
