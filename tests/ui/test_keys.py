"""Key names agree with the keys: the help, docs/keys.md, the palette and the dialogs' hints name
keys bound to what they say, and the help wraps instead of cutting descriptions off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.ui.test_app_support import ScriptedEngine, loader_for, notified, run_app, wait_for
from writer.ui.app import WriterApp
from writer.ui.keys import action_of, key_for
from writer.ui.screens.help import KEY_ROWS, keys_markdown
from writer.ui.writing.screen import WritingScreen

DOCS = Path(__file__).resolve().parents[2] / "docs" / "keys.md"
KEY_NAME = re.compile(r"\b(?:(?:ctrl|shift|alt)\+)*(?:f\d{1,2}|[a-z])\b|\b(?:ctrl|shift)\+\S+")


def test_every_help_row_names_keys_bound_to_its_actions():
    for row in KEY_ROWS:
        for owner, action in row.keys:
            key = key_for(owner, action)
            assert action_of(owner, key) == action, (row.what, key, action)
            assert key in row.key_text


def test_docs_keys_tables_are_the_bindings():
    doc = DOCS.read_text(encoding="utf-8")
    tables = doc[doc.index("## ") :]
    assert tables == keys_markdown(), "regenerate docs/keys.md's tables (see its top)"
    # And each documented key is bound to the documented row's action.
    documented = re.findall(r"^\| `([^`]+)` \| (.+) \|$", tables, re.MULTILINE)
    assert len(documented) == len(KEY_ROWS)
    for (key_text, what), row in zip(documented, KEY_ROWS, strict=True):
        assert what == row.what
        for owner, action in row.keys:
            assert key_for(owner, action) in key_text.replace("\\|", "|")


def _palette_entries(app) -> list[tuple[str, str, str]]:
    entries = []
    for command in app.get_system_commands(app.writing):
        callback = getattr(command.callback, "__name__", "")
        entries.append((command.title, command.help, callback.removeprefix("action_")))
    return entries


async def test_palette_hints_name_the_key_of_their_own_command():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        checked = 0
        for title, hint, action in _palette_entries(app):
            found = re.search(r"\(([^)]*)\)\s*$", hint)
            if not found or not KEY_NAME.match(found.group(1)):
                continue
            first = re.split(r"[;,]", found.group(1))[0].strip()
            bound = action_of(WritingScreen, first) or action_of(app, first)
            assert bound is not None, f"{title}: {first} is not bound"
            assert bound.removeprefix("app.") == action, f"{title}: {first} does {bound}"
            checked += 1
        assert checked >= 10


async def test_shift_f9_with_nothing_inserted_names_shift_f9():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press("shift+f9")
        await wait_for(pilot, lambda: notified(app, "shows the last inserted"))
        assert notified(app, "shift+f9 shows the last inserted")


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_help_wraps_descriptions_instead_of_cutting_them(size):
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=size) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        keys = app.screen.query_one("#keys", Static)
        shown = "\n".join(strip.text for strip in keys.render_lines(keys.size.region))
        words = set(shown.split())
        for row in KEY_ROWS:
            for word in row.what.split():
                assert word in words, (size, row.what, word)


async def test_token_views_close_with_the_key_that_opened_them():
    from writer.ui.screens.tokens import NextTokenScreen, TokenProbsScreen

    app = WriterApp(engine_loader=loader_for(ScriptedEngine(tokens=2)))
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press(*"Go", "f7")
        await wait_for(pilot, lambda: isinstance(app.screen, NextTokenScreen))
        await pilot.press("f7")
        await wait_for(pilot, lambda: app.screen is app.writing)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("tab", "1", "shift+f9")
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        await pilot.press("shift+f9")
        await wait_for(pilot, lambda: app.screen is app.writing)
