"""The same draft open in two writers: the second is told, and chooses to read only or to edit a
copy of its own, so neither window overwrites the other's text.

Functions over the writing screen's `OpenDraft` (passed in; this module does not import it).
"""

from __future__ import annotations

from typing import Any

from writer.errors import WriterError
from writer.ui.keys import key_for


def claim_draft(drafts: Any) -> None:
    """Two instances: the second one is told and chooses read-only or a copy of its own."""
    if drafts.store is None or drafts.draft is None:
        return
    try:
        claimed = drafts.store.acquire_lock(drafts.draft.id)
    except (WriterError, OSError):
        claimed = True  # locking is a courtesy; never block editing on it
    if claimed:
        drafts.read_only = False
        drafts.screen.editor.read_only = False
        return
    from writer.ui.screens.confirm import ChoiceScreen

    owner = drafts.store.lock_owner(drafts.draft.id)
    who = f" (process {owner})" if owner else ""

    def chosen(choice: str | None) -> None:
        if choice == "copy":
            _edit_a_copy(drafts)
        drafts.update_save_state()

    drafts.read_only = True
    drafts.screen.editor.read_only = True
    drafts.app.push_screen(
        ChoiceScreen(
            f"“{drafts.screen.status.title}” is open in another writer{who}. Editing it here too "
            "would overwrite one window's text with the other's.",
            [("readonly", "Open read-only"), ("copy", "Edit a copy")],
        ),
        chosen,
    )


def _edit_a_copy(drafts: Any) -> None:
    """Fork the draft that another window holds: both texts survive, each in its draft."""
    original = drafts.draft
    title = f"{drafts.screen.status.title or original.display_title} (copy)"
    try:
        drafts.draft = drafts.store.create_draft(
            title,
            drafts.screen.editor.text,
            preset=original.preset,
            overrides=original.overrides,
            model=original.model,
        )
        drafts.store.acquire_lock(drafts.draft.id)
    except WriterError as exc:
        drafts.draft = original
        drafts.app.notify(
            f"Cannot make a copy: {exc}. The draft stays read-only.", severity="error"
        )
        return
    not_file = f" This window does not write {drafts.file.name}." if drafts.external else ""
    drafts.external, drafts.file = None, None
    drafts.session.conflict, drafts.session.file_error, drafts._divergence_question = False, "", ""
    drafts.read_only = False
    drafts.screen.editor.read_only = False
    drafts._update_title()
    drafts.app.notify(
        f"You are editing a copy, “{title}”; the original stays with the other window. "
        f"Both are in the drafts library ({key_for(type(drafts.screen), 'drafts')}).{not_file}",
        title="A copy",
        timeout=15,
    )
