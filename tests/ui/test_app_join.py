"""Pilot tests of how a chosen candidate joins the story: at a paragraph start, after a typed
space, before existing text; the panel shows it as it goes in, and undo takes it out whole."""

from __future__ import annotations

import pytest

from tests.ui.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.ui.app import WriterApp

CANDIDATE = " c0t0 c0t1"  # the scripted engine's first candidate (two tokens)


async def _type(pilot, text: str) -> None:
    keys = {" ": "space", "\n": "enter"}
    await pilot.press(*[keys.get(c, c) for c in text])


@pytest.mark.parametrize(
    ("typed", "left", "expected"),
    [
        ("Rain fell.\n", 0, "Rain fell.\nc0t0 c0t1"),  # a paragraph start: no leading space
        ("brother ", 0, "brother c0t0 c0t1"),  # after a typed space: not a second one
        ("fitnessLAST", 4, "fitness c0t0 c0t1 LAST"),  # before text: apart from its word
        ("The end", 0, "The end c0t0 c0t1"),  # after a word: the candidate's own space
    ],
)
async def test_a_chosen_candidate_joins_the_story_as_prose(typed, left, expected):
    engine = ScriptedEngine(tokens=2)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await _type(pilot, typed)
        await pilot.press(*["left"] * left)
        await pilot.press("ctrl+g")
        panel = app.writing.panel
        await wait_for(pilot, lambda: panel.is_open and not panel.running)
        # The panel shows the candidate as it will go in.
        shown = str(panel.get_option_at_index(0).prompt)
        inserted = expected[len(typed) - left :][: len(expected) - len(typed)]
        assert shown == "1 " + inserted.strip("\n")
        await pilot.press("tab", "1")
        await pilot.pause()
        assert app.writing.editor.text == expected
        await pilot.press("ctrl+z")  # one undo step takes it out whole
        await pilot.pause()
        assert app.writing.editor.text == typed
