"""Framing a story for the model: context assembly (memory, author's note, lorebook, the story's
tail) within the window (context), prompt framing for continuations and plot ideas (prompts),
and chat framing (chat).

Pure Python, no torch at any level: the UI and `writer serve` assemble context without loading
a model (import-linter checks this). May import: writer.engine.types,
writer.engine.sampling.stops and .tokentable, writer.errors, writer.presets, writer.textfiles.
The names below are exported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.engine.story.chat import ChatTurn, stream_replies
    from writer.engine.story.context import ContextBreakdown, StoryContext, assemble_context
    from writer.engine.story.lorebook import LoreEntry, load_lorebook
    from writer.engine.story.prompts import build_prompt, strip_idea_notes

__all__ = [
    "ChatTurn",
    "stream_replies",
    "ContextBreakdown",
    "LoreEntry",
    "StoryContext",
    "assemble_context",
    "load_lorebook",
    "build_prompt",
    "strip_idea_notes",
]


def __getattr__(name: str) -> Any:
    # PEP 562: a name's module is imported on first use, so importing the package stays light.
    if name in ("ChatTurn", "stream_replies"):
        from writer.engine.story import chat

        return getattr(chat, name)
    if name in ("ContextBreakdown", "StoryContext", "assemble_context"):
        from writer.engine.story import context

        return getattr(context, name)
    if name in ("LoreEntry", "load_lorebook"):
        from writer.engine.story import lorebook

        return getattr(lorebook, name)
    if name in ("build_prompt", "strip_idea_notes"):
        from writer.engine.story import prompts

        return getattr(prompts, name)
    raise AttributeError(name)
