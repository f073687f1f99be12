"""Pilot tests of focus that never swallows typing: Tab follows reading order with text fields
first, Replace opens on the box to type in, the edit dialog selects all with ctrl+a, and a
number's field refuses letters visibly."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from tests.ui.test_app_support import (
    ScriptedEngine,
    loader_for,
    notified,
    run_app,
    wait_for,
)
from writer.ui.app import WriterApp
from writer.ui.screens.chat import ChatScreen
from writer.ui.screens.context import ContextScreen
from writer.ui.screens.edit_candidate import EditCandidateScreen
from writer.ui.screens.find import FindScreen
from writer.ui.screens.parameters import ParametersScreen


def make_app() -> WriterApp:
    return WriterApp(engine_loader=loader_for(ScriptedEngine(tokens=2)))


async def test_chat_tab_goes_from_the_description_to_your_line():
    app = make_app()
    async with run_app(app, size=(110, 40)) as pilot:
        await pilot.press("shift+f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press(*"Mara", "tab")
        assert app.focused.id == "about"
        await pilot.press("tab", *"Hi")
        assert app.focused.id == "line"
        assert app.screen.query_one("#line", Input).value == "Hi"


async def test_story_context_tab_goes_from_memory_to_the_note():
    app = make_app()
    async with run_app(app, size=(110, 40)) as pilot:
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, ContextScreen))
        assert app.focused.id == "memory"
        await pilot.press("tab")
        assert app.focused.id == "note"
        await pilot.press("tab")
        assert app.focused.id == "lorebook"


async def test_replace_opens_on_replace_with_when_find_is_filled():
    app = make_app()
    async with run_app(app, size=(110, 40)) as pilot:
        await pilot.press(*"the fox", "ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        assert app.focused.id == "query"  # nothing to find yet: type it
        await pilot.press(*"fox", "enter")
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        assert app.screen.query_one("#query", Input).value == "fox"
        assert app.focused.id == "replacement"


async def test_edit_candidate_ctrl_a_selects_all():
    app = make_app()
    async with run_app(app, size=(110, 40)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press(*"Go", "ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("tab", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditCandidateScreen))
        await pilot.press("ctrl+a", *"new")
        assert app.screen.query_one(TextArea).text == "new"


async def test_a_number_field_refuses_letters_visibly():
    app = make_app()
    async with run_app(app, size=(110, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ParametersScreen))
        field = app.screen.query_one("#top_k", Input)
        before = field.value
        field.focus()
        await pilot.press("end", "x")
        assert field.value == before
        await wait_for(pilot, lambda: notified(app, "takes a whole number"))
