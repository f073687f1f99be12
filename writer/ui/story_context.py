"""The open draft's story context (memory, author's note, lorebook), read and stored.

The writing screen's open draft (writing/saving.py `OpenDraft`) keeps the context per draft in
`story_context`; the candidates, the inline suggestion, the chat and the f8 dialog read it with
`current_context` and store an edited one with `save_context`. Neutral ground: it imports no
screen and no widget.
"""

from __future__ import annotations

from typing import Any

from writer.engine.story.context import StoryContext
from writer.errors import WriterError, error_line


def current_context(drafts: Any) -> StoryContext:
    """The open draft's context, read from the store once per draft (empty without one).

    `drafts` is the open draft holder: `store`, `draft`, `app` and the cache `story_context`."""
    key = getattr(drafts.draft, "id", None)
    cached = drafts.story_context
    if cached is not None and cached[0] == key:
        return cached[1]
    context = StoryContext()
    if key is not None and drafts.store is not None:
        try:
            context = drafts.store.context.load(key)
        except WriterError as exc:
            drafts.app.notify(error_line(exc), title="Story context", severity="error", timeout=10)
    drafts.story_context = (key, context)
    return context


def save_context(drafts: Any, context: StoryContext) -> bool:
    """Store `context` with the open draft (creating the draft first if it has none yet)."""
    app = drafts.app
    if drafts.session.read_only:
        app.notify("This draft is open read-only; its context was not changed.", severity="warning")
        return False
    if drafts.draft is None:
        drafts.session.dirty = True
        if not drafts.save_now():
            return False
    try:
        drafts.store.context.save(drafts.draft.id, context)
    except WriterError as exc:
        app.notify(
            f"The story context was not saved: {error_line(exc)}",
            title="Story context",
            severity="error",
            timeout=10,
        )
        return False
    drafts.story_context = (drafts.draft.id, context)
    return True
