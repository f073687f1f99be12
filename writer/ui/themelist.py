"""The theme list (ctrl+p → "Change theme"): writer's own themes (bundled and the user's) first,
then Textual's built-in ones, each group in name order."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import CommandPalette
from textual.theme import BUILTIN_THEMES, ThemeProvider


def ordered_theme_names(app: Any) -> list[str]:
    """Every available theme's name, writer's (not one of Textual's built-ins) first."""
    names = sorted(app.available_themes)
    return [n for n in names if n not in BUILTIN_THEMES] + [n for n in names if n in BUILTIN_THEMES]


class WriterThemeProvider(ThemeProvider):
    """Textual's theme provider, listing writer's themes before Textual's."""

    @property
    def commands(self) -> list[tuple[str, Any]]:
        def set_app_theme(name: str) -> None:
            self.app.theme = name

        return [(name, partial(set_app_theme, name)) for name in ordered_theme_names(self.app)]


def search_themes(app: Any) -> None:
    """Open the theme list (what `App.search_themes` does, in writer's order)."""
    app.push_screen(
        CommandPalette(providers=[WriterThemeProvider], placeholder="Search for themes…")
    )
