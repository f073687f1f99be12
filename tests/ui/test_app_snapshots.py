"""Snapshot tests of the main screens (pytest-textual-snapshot; `--snapshot-update` to accept).

Kept deterministic: a scripted engine that answers at once, a fixed speed, no cursor blink.
"""

from __future__ import annotations

import pytest

from tests.ui.test_app_support import ScriptedEngine, loader_for, wait_for
from writer.ui.app import WriterApp

SIZE = (100, 30)
THEMES = ("writer-dark", "writer-light", "writer-paper")
PAGE = (
    "# The Lighthouse\n\n"
    "The keeper climbed the *hundred and twelve* stairs every evening, and every evening the "
    "lamp was **exactly** where he had left it, turning its slow light over the black water.\n\n"
    "> Wind from the north-east. Glass falling.\n\n"
    "[Idea: a ship that is not on any chart]\n\n"
    "She opened the door and"
)


def make_app(tmp_path) -> WriterApp:
    story = tmp_path / "story.md"
    story.write_text("The lighthouse keeper looked at the sea.\n\nShe opened the door and")
    return WriterApp(story, model="tiny", engine_loader=loader_for(ScriptedEngine()))


async def settle(pilot) -> None:
    app = pilot.app
    app.writing.editor.cursor_blink = False
    await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
    app.writing.editor.cursor_location = app.writing.editor.document.end


def test_main_screen(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=settle)


def test_candidates_panel(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        app = pilot.app
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not app.writing.panel.running and app.writing.panel.texts[2])
        app.writing.status.speed = 12.5
        app.writing.panel.finish("12.5 tok/s")
        await pilot.press("tab")

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=settle, press=["f1"])


def test_parameters_screen(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        pilot.app.screen.query_one("#top_p").value = "1.5"  # shows the refusal in place

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def page_app(tmp_path, theme: str) -> WriterApp:
    story = tmp_path / "lighthouse.md"
    story.write_text(PAGE)
    return WriterApp(story, model="tiny", theme=theme, engine_loader=loader_for(ScriptedEngine()))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
@pytest.mark.parametrize("theme", THEMES)
def test_page_in_each_theme(snap_compare, tmp_path, theme, size):
    """The centred column, Markdown styling and the status line in every bundled theme."""
    assert snap_compare(page_app(tmp_path, theme), terminal_size=size, run_before=settle)


def test_focus_mode(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+backslash")
        pilot.app.clear_notifications()
        await pilot.pause()

    app = page_app(tmp_path, "writer-dark")
    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
