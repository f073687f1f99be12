"""The writing screen's library dialogs: the drafts library (ctrl+o), a draft's history (f3)
and restoring a revision, and the alternatives of earlier requests (f4). Functions over the
screen, which they are handed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from writer.errors import WriterError
from writer.ui.keys import key_for
from writer.ui.widgets.editor import StoryEditor

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost


def open_drafts(screen: WritingHost) -> None:
    """ctrl+o: the drafts library; the open draft is saved first."""
    from writer.ui.screens.drafts import DraftsScreen

    drafts = screen.drafts

    def chosen(result: tuple[str, int | None] | None) -> None:
        drafts.refresh_title()
        if result is None:
            return
        what, draft_id = result
        if what == "new" or draft_id != getattr(drafts.draft, "id", None):
            drafts.switch_draft(draft_id)

    if drafts.store is None:
        screen.app.notify(
            "The drafts library is not available: " + drafts.session.save_error,
            severity="error",
        )
        return
    drafts.save_now()
    screen.app.push_screen(
        DraftsScreen(
            drafts.store,
            getattr(drafts.draft, "id", None),
            save_open=drafts.save_now,
            retitle_open=drafts.refresh_title,
        ),
        chosen,
    )


def open_history(screen: WritingHost) -> None:
    """f3: the draft's revisions; one restores."""
    from writer.ui.screens.history import HistoryScreen

    drafts = screen.drafts
    if drafts.store is None or drafts.draft is None:
        screen.app.notify("No history: the drafts store is not available.", severity="warning")
        return
    drafts.save_now()
    try:
        revisions = drafts.store.history(drafts.draft.id)
    except WriterError as exc:
        screen.app.notify(str(exc), severity="error")
        return
    screen.app.push_screen(
        HistoryScreen(revisions, drafts.store),
        lambda revision_id: restore_revision(screen, revision_id),
    )


def restore_revision(screen: WritingHost, revision_id: int | None) -> None:
    """Make revision `revision_id` the text (itself a revision; one undo step in the editor)."""
    if revision_id is None:
        return
    drafts = screen.drafts
    if drafts.read_only:
        screen.app.notify("This draft is open read-only.", severity="warning")
        return
    editor = screen.editor
    with drafts.session.writing():  # an older autosave snapshot must not follow it
        try:
            draft = drafts.store.restore_revision(drafts.draft.id, revision_id)
        except WriterError as exc:
            screen.app.notify(str(exc), severity="error")
            return
        editor.history.checkpoint()
        editor.replace(draft.text, (0, 0), editor.document.end, maintain_selection_offset=False)
        editor.history.checkpoint()
    drafts.session.dirty = False
    if drafts.external is not None:
        drafts.session.dirty = True
        drafts.save_now(reason="external-save")  # the file gets the restored text too
    drafts.update_save_state()
    screen.app.notify(f"Revision restored ({key_for(StoryEditor, 'undo')} undoes it).")


def open_alternatives(screen: WritingHost) -> None:
    """f4: the candidates of earlier requests; one is inserted."""
    from writer.ui.screens.alternatives import AlternativesScreen

    drafts = screen.drafts
    if drafts.store is None or drafts.draft is None:
        screen.app.notify("No alternatives: the drafts store is not available.", severity="warning")
        return
    try:
        records = drafts.store.generations.recent(drafts.draft.id)
    except WriterError as exc:
        screen.app.notify(str(exc), severity="error")
        return

    def chosen(result: tuple[str, str] | None) -> None:
        if result is None or drafts.read_only:
            return
        mode, text = result
        if mode == "ideas":
            screen.editor.insert_idea(text)
        else:
            screen.editor.insert_generated(text)
        drafts.save_now(reason="insert")
        screen.editor.focus()

    screen.app.push_screen(AlternativesScreen(records), chosen)
