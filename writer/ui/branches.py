"""ctrl+l in the app: the story's branches (writer.ui.screens.branches) and putting one in.

A mixin of `WriterApp`; the branches come from the generation log (`DraftStore.branch_points`),
so they are there after a restart.
"""

from __future__ import annotations

from writer.errors import WriterError
from writer.ui.screens.branches import BranchesScreen, BranchPick


class BranchesMixin:
    """action_branches and what a pick does, for WriterApp."""

    def action_branches(self) -> None:
        if self.store is None or self.draft is None:
            self.notify("No branches: the drafts store is not available.", severity="warning")
            return
        try:
            points = self.store.branch_points(self.draft.id)
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return
        self.push_screen(BranchesScreen(points, self.editor.text), self.take_branch)

    def take_branch(self, pick: BranchPick | None) -> None:
        """Go to a point, or put a branch there in place of the text that followed it."""
        if pick is None:
            return
        editor = self.editor
        start = editor.document.get_location_from_index(pick.point)
        if pick.text is None:
            editor.move_cursor(start)
            editor.focus()
            return
        if self.read_only:
            self.notify("This draft is open read-only; nothing was changed.", severity="warning")
            return
        end = editor.document.get_location_from_index(pick.point + pick.replace)
        editor.history.checkpoint()
        result = editor.replace(pick.text, start, end, maintain_selection_offset=False)
        editor.history.checkpoint()
        editor.move_cursor(result.end_location)
        self.forget_insert()
        self._record_insert(pick.generation_id, pick.index)  # the log's path, and a revision
        editor.focus()
        self.notify("Branch put in (ctrl+z undoes it).")
