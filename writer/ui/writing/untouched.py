"""A draft the author never used is left out of the library when the app quits.

`writer` with an empty library opens a new draft at once (its settings, story context and chats
need one to belong to); a visit that writes nothing in it would leave an empty "Untitled draft"
behind. On quit, such a draft is deleted: no text, no title, no revisions, no generations, no
chats and no story context. Anything the author made keeps it.
"""

from __future__ import annotations

from typing import Any

from writer.errors import WriterError


def untouched(store: Any, draft: Any, text: str) -> bool:
    """Whether `draft` holds nothing of the author's (`text`: what the editor shows)."""
    if text or draft.title or draft.text or draft.external_path:
        return False
    return not (
        store.history(draft.id)
        or store.generations.recent(draft.id, 1)
        or store.chats.for_draft(draft.id)
        or not store.context.load(draft.id).empty
    )


def forget_if_untouched(store: Any, draft: Any, text: str, read_only: bool) -> None:
    """Delete `draft` from `store` when it is untouched (see `untouched`); a store that cannot
    tell or cannot delete keeps it (an empty draft left over is harmless)."""
    if store is None or draft is None or read_only:
        return
    try:
        if untouched(store, draft, text):
            store.delete_draft(draft.id)
    except (WriterError, OSError):
        pass
