"""The writing screen's entries in the command palette (ctrl+p): presets, the story's dialogs,
the writing tools and the page's options. The app lists them after Textual's own and its "Keys".

`screen` is the writing screen (writing/screen.py); it is typed loosely here because the screen
imports this module (the entries name its actions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from textual.app import SystemCommand

from writer.ui.writing import page


def dialog_commands(screen: Any) -> Iterator[SystemCommand]:
    """The presets and the story's dialogs."""
    for name, preset in screen.presets.items():
        yield SystemCommand(
            f"Preset: {name}",
            preset.description or "creativity preset",
            _preset_command(screen, name),
        )
    yield SystemCommand("Parameters", "Edit sampling parameters (f2)", screen.action_parameters)
    yield SystemCommand("Drafts library", "Open, create, rename… (ctrl+o)", screen.action_drafts)
    yield SystemCommand("History", "Restore an earlier revision (f3)", screen.action_history)
    yield SystemCommand(
        "Alternatives", "Candidates of earlier requests (f4)", screen.action_alternatives
    )
    yield SystemCommand("Models", "Base and fine-tuned models (f5)", screen.action_models)
    yield SystemCommand(
        "Story context",
        "Memory, author's note, lorebook (f8)",
        screen.action_story_context,
    )
    yield SystemCommand(
        "Branches",
        "Every request's candidates, by story point (ctrl+l)",
        screen.action_branches,
    )
    yield SystemCommand("Next token", "Most likely next tokens (f7)", screen.action_next_token)


def story_commands(screen: Any) -> Iterator[SystemCommand]:
    """The writing tools, the chat and the page's options."""
    yield from screen.tools.commands()
    yield SystemCommand(
        "Chat with a character", "Interview a character (shift+f8)", screen.action_chat
    )
    yield from page.page_commands(screen)


def _preset_command(screen: Any, name: str) -> Callable[[], None]:
    return lambda: screen.set_preset(name)
