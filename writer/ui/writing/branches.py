"""ctrl+l on the writing screen: the story's branches (writer.ui.screens.branches) and putting
one in.

The branches come from the generation log (`DraftStore.generations.branch_points`), so they are
there after a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from writer.errors import WriterError
from writer.ui.keys import key_for
from writer.ui.screens.branches import BranchesScreen, BranchPick

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost


def open_branches(screen: WritingHost) -> None:
    """Show the branches of the open draft; a pick goes to `take_branch`."""
    app, drafts = screen.app, screen.drafts
    if drafts.store is None or drafts.draft is None:
        app.notify("No branches: the drafts store is not available.", severity="warning")
        return
    try:
        points = drafts.store.generations.branch_points(drafts.draft.id)
    except WriterError as exc:
        app.notify(str(exc), severity="error")
        return
    app.push_screen(
        BranchesScreen(points, screen.editor.text), lambda pick: take_branch(screen, pick)
    )


def take_branch(screen: WritingHost, pick: BranchPick | None) -> None:
    """Go to a point, or put a branch there in place of the text that followed it."""
    if pick is None:
        return
    editor = screen.editor
    start = editor.document.get_location_from_index(pick.point)
    if pick.text is None:
        editor.move_cursor(start)
        editor.focus()
        return
    if screen.drafts.read_only:
        screen.app.notify("This draft is open read-only; nothing was changed.", severity="warning")
        return
    end = editor.document.get_location_from_index(pick.point + pick.replace)
    editor.replace_generated(pick.text, start, end)
    screen.probabilities.forget_insert()
    screen.drafts.record_insert(pick.generation_id, pick.index)  # the log's path, and a revision
    editor.focus()
    screen.app.notify(f"Branch put in ({key_for(type(editor), 'undo')} undoes it).")
