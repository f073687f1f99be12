"""The open draft's story context (memory, author's note, lorebook), read and stored.

The writing screen's open draft (writing/saving.py `OpenDraft`) keeps the context per draft in
`story_context`; the candidates, the inline suggestion, the chat and the f8 dialog read it with
`current_context` and store an edited one with `save_context`. A request's context is
`request_context`: the stored one with recall over the whole draft (docs/recall.md): one
`Recaller` per open draft, kept across requests (its passages change only when the end of the
story's query words change, so the engine's prefix cache holds while the author types inside a
sentence), searching the draft's index in the store (kept current by the autosave), or an index
in memory for a draft not saved yet. Neutral ground: it imports no screen and no widget.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from writer.engine.story.context import StoryContext, default_recall_tokens
from writer.errors import WriterError, error_line

if TYPE_CHECKING:
    from writer.engine.story.recall import Recaller


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


def draft_recaller(drafts: Any) -> Recaller:
    """The open draft's Recaller (made on first use, kept while the draft stays open)."""
    from writer.engine.story.recall import Recaller  # here: the first paint does without it

    key = getattr(drafts.draft, "id", None)
    cached = drafts.recaller
    if cached is not None and cached[0] == key:
        return cached[1]
    store = drafts.store
    if key is not None and store is not None and store.recall.unavailable is None:
        recaller = Recaller(store.recall.draft(key, catch_up=not drafts.read_only))
    else:
        recaller = Recaller()  # an index in memory, brought up to the text per query
    drafts.recaller = (key, recaller)
    return recaller


def request_context(drafts: Any, editor: Any, extra: int = 0) -> StoryContext:
    """The context of a request from the text before `editor`'s cursor: the stored context
    with recall on (unless the draft's `recall_tokens` or the config's is 0), its cap the
    draft's, else the config's, else an eighth of the loaded model's window. `extra`: the
    characters the request's story adds after the cursor (a candidate being continued).
    Call on the UI thread: it takes a snapshot of the editor's lines (no copy of the text)."""
    context = current_context(drafts)
    tokens = context.recall_tokens
    if tokens is None:
        tokens = drafts.app.config.recall_tokens
    if tokens == 0:
        return context
    if tokens is None:
        window = getattr(drafts.app.model.engine, "context_size", None) or 1024
        tokens = default_recall_tokens(int(window))
    from writer.engine.story.recall import TailRecaller

    row, column = editor.cursor_location
    lines = editor.document.lines
    snapshot = [*lines[:row], lines[row][:column]]
    return replace(
        context,
        recall_tokens=tokens,
        recaller=TailRecaller(draft_recaller(drafts), snapshot, extra),
    )


def needs_context(context: StoryContext | None, story: str, engine: Any, params: Any) -> bool:
    """Whether a request passes `context` to the engine: when it has memory, a note or a
    lorebook, or when it recalls and `story` may not fit the engine's window (a story that
    fits is sent exactly as without recall)."""
    if context is None:
        return False
    if not context.empty:
        return True
    window = int(getattr(engine, "context_size", 0) or 0)
    if not window or not context.recall_on:  # an engine that does not say cannot recall
        return False
    from writer.engine.story.recall import surely_fits

    return not surely_fits(story, window - min(params.max_new_tokens, window - 1))
