"""The writing screen's entries in the command palette (ctrl+p): presets, the story's dialogs,
the writing tools and the page's options. The app lists them after Textual's own and its "Keys".

`screen` is the writing screen (writing/screen.py); it is typed loosely here because the screen
imports this module (the entries name its actions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from textual.app import SystemCommand

from writer.ui.keys import key_for
from writer.ui.writing import page


def dialog_commands(screen: Any) -> Iterator[SystemCommand]:
    """The presets and the story's dialogs."""
    for name, preset in screen.presets.items():
        yield SystemCommand(
            f"Preset: {name}",
            preset.description or "creativity preset",
            _preset_command(screen, name),
        )
    yield SystemCommand(
        "Parameters",
        f"This draft's sampling parameters ({_key(screen, 'parameters')})",
        screen.action_parameters,
    )
    yield SystemCommand(
        "Drafts library", f"Open, create, rename… ({_key(screen, 'drafts')})", screen.action_drafts
    )
    yield SystemCommand(
        "History", f"Restore an earlier revision ({_key(screen, 'history')})", screen.action_history
    )
    yield SystemCommand(
        "Alternatives",
        f"Candidates of earlier requests ({_key(screen, 'alternatives')})",
        screen.action_alternatives,
    )
    yield SystemCommand(
        "Models", f"Base and fine-tuned models ({_key(screen, 'models')})", screen.action_models
    )
    yield SystemCommand(
        "Story context",
        f"Memory, author's note, lorebook ({_key(screen, 'story_context')})",
        screen.action_story_context,
    )
    yield SystemCommand(
        "Branches",
        f"Every request's candidates, by story point ({_key(screen, 'branches')})",
        screen.action_branches,
    )
    yield SystemCommand(
        "Next token",
        f"Most likely next tokens ({_key(screen, 'next_token')})",
        screen.action_next_token,
    )


def story_commands(screen: Any) -> Iterator[SystemCommand]:
    """The writing tools, the chat and the page's options."""
    yield from screen.tools.commands()
    yield SystemCommand(
        "Chat with a character",
        f"Interview a character ({_key(screen, 'chat')})",
        screen.action_chat,
    )
    yield from page.page_commands(screen)


def _key(screen: Any, action: str) -> str:
    return key_for(type(screen), action)


def _preset_command(screen: Any, name: str) -> Callable[[], None]:
    return lambda: screen.set_preset(name)
