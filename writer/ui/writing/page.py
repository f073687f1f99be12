"""The page's settings on the writing screen: the column, Markdown by the text's name, focus
mode, and their palette entries. Column and focus mode are remembered in config.toml.

Called from `WritingScreen` (a key, a palette entry, the status bar's title changing); the
editor draws what is set here (`StoryEditor.column`, `.markdown`, `.focus_mode`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.app import SystemCommand
from textual.widgets import Footer

from writer.ui.keys import key_for
from writer.ui.widgets.editor import StoryEditor
from writer.ui.widgets.page import COLUMN_CHOICES, is_markdown_name
from writer.ui.widgets.status import StatusBar

FOCUS_KEY = "ctrl+backslash"


def apply_page(screen: Any) -> None:
    """Set the editor and the bars from the app's config (when the screen is composed)."""
    config = screen.app.config
    editor = screen.query_one(StoryEditor)
    editor.column = getattr(config, "column", 72)
    set_focus_mode(screen, bool(getattr(config, "focus", False)), remember=False)


def apply_title(screen: Any, title: str) -> None:
    """A `.md` file or draft title gets Markdown styling; anything else stays plain."""
    screen.query_one(StoryEditor).markdown = is_markdown_name(title)


def set_focus_mode(screen: Any, on: bool, *, remember: bool = True) -> None:
    """Hide (or show) the status bar and footer and dim all but the paragraph being written."""
    screen.query_one(StoryEditor).focus_mode = on
    screen.query_one(StatusBar).display = not on
    screen.query_one(Footer).display = not on
    if remember:
        _remember(screen.app, "focus", on)


def toggle_focus_mode(screen: Any) -> None:
    on = not screen.query_one(StoryEditor).focus_mode
    set_focus_mode(screen, on)
    key, palette = key_for(screen, "focus_mode"), key_for(screen.app, "command_palette")
    screen.app.notify(
        f"Focus mode: every writer key still works; {key} or {palette} brings the bars back."
        if on
        else "Focus mode off.",
        timeout=4,
    )


def set_column(screen: Any, column: int) -> None:
    """Wrap at `column` characters (0: the full width), remembered in config.toml."""
    screen.query_one(StoryEditor).column = column
    _remember(screen.app, "column", column)


def _remember(app: Any, name: str, value: object) -> None:
    from writer.config import save_config
    from writer.errors import WriterError

    config = app.config
    if getattr(config, name, None) == value:
        return
    setattr(config, name, value)
    try:
        save_config(config, only=(name,))
    except (OSError, WriterError) as exc:
        app.notify(f"Could not remember the {name} setting: {exc}", severity="warning")


def page_commands(screen: Any) -> Iterator[SystemCommand]:
    """Focus mode and the column widths in the command palette (ctrl+p)."""
    yield SystemCommand(
        "Focus mode",
        f"Hide the bars, dim all but the paragraph being written ({key_for(screen, 'focus_mode')})",
        screen.action_focus_mode,
    )
    for column in COLUMN_CHOICES:
        label = "full width" if column == 0 else f"{column} characters"
        yield SystemCommand(
            f"Column: {label}",
            "The text's measure, centred (remembered in config.toml)",
            _column_cmd(screen, column),
        )


def _column_cmd(screen: Any, column: int):
    return lambda: set_column(screen, column)
