"""The writing screen's writing-tool keys: find, find next, replace, a word goal, save as.

A part of `WritingScreen` (kept apart so that the screen's own file stays about the story's
keys): find and replace act on the editor alone; the goal and save-as reach the open draft
through the screen's open draft (`drafts.set_word_goal`) and the app (`store`, `editor`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.app import SystemCommand

from writer.ui.screens.find import FindRequest, FindScreen
from writer.ui.widgets.editor import StoryEditor
from writer.ui.widgets.status import StatusBar

MAX_GOAL = 2**31 - 1


def parse_goal(answer: str) -> int:
    """A word goal typed by the author: a whole number; 0 or nothing removes the goal."""
    cleaned = answer.strip().replace(",", "").replace("_", "")
    if not cleaned:
        return 0
    if not cleaned.isdigit() or int(cleaned) > MAX_GOAL:
        raise ValueError(f"A word goal is a whole number of words, e.g. 1000 (got {answer!r}).")
    return int(cleaned)


class EditingKeys:
    """ctrl+f, f8 / shift+f8, f9, f10 and f12 on the writing screen."""

    app: Any
    drafts: Any
    query_one: Any
    search = ""
    """The last text looked for (f8 finds it again)."""
    replacement = ""

    def commands(self) -> Iterator[SystemCommand]:
        """These keys in the command palette (ctrl+p)."""
        yield SystemCommand("Find", "Find in the story (ctrl+f; f8: next)", self.action_find)
        yield SystemCommand("Replace", "Find and replace (f9)", self.action_replace)
        yield SystemCommand("Word goal", "Set this draft's word goal (f10)", self.action_word_goal)
        yield SystemCommand(
            "Save as", "Save a copy of the text as a file (f12)", self.action_save_as
        )
        yield SystemCommand(
            "Chat with a character", "Interview a character (shift+f8)", self.action_chat
        )

    def _editor(self) -> StoryEditor:
        return self.query_one("#editor", StoryEditor)

    def _status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    # -- find and replace -----------------------------------------------------------------------
    def action_find(self) -> None:
        def done(request: FindRequest | None) -> None:
            if request is not None:
                self.search = request.query
                self._find(request.query)

        self.app.push_screen(FindScreen(self.search), done)

    def action_find_next(self, backwards: bool = False) -> None:
        if not self.search:
            self.action_find()
            return
        self._find(self.search, backwards)

    def _find(self, query: str, backwards: bool = False) -> None:
        if not self._editor().find_next(query, backwards):
            self.app.notify(f"“{query}” is not in the story.", severity="warning")

    def action_replace(self) -> None:
        def done(request: FindRequest | None) -> None:
            if request is None:
                return
            self.search, self.replacement = request.query, request.replacement
            editor = self._editor()
            if editor.read_only:
                self.app.notify("This draft is open read-only; nothing was replaced.")
                return
            if request.scope == "all":
                count = editor.replace_all(request.query, request.replacement)
                if count:
                    self.app.notify(f"Replaced {count} (ctrl+z undoes it).")
                else:
                    self.app.notify(f"“{request.query}” is not in the story.", severity="warning")
            elif not editor.replace_next(request.query, request.replacement):
                self.app.notify(f"“{request.query}” is not in the story.", severity="warning")

        self.app.push_screen(FindScreen(self.search, self.replacement), done)

    # -- the draft's word goal ------------------------------------------------------------------
    def action_word_goal(self) -> None:
        from writer.ui.screens.prompt import PromptScreen

        current = self._status().goal

        def done(answer: str | None) -> None:
            if answer is None:
                return
            try:
                goal = parse_goal(answer)
            except ValueError as exc:
                self.app.notify(str(exc), severity="error")
                return
            self.drafts.set_word_goal(goal or None)

        question = "Word goal for this draft (a number of words; empty removes it):"
        self.app.push_screen(PromptScreen(question, str(current or "")), done)

    # -- save as --------------------------------------------------------------------------------
    def action_save_as(self) -> None:
        from pathlib import Path

        from writer.ui.screens.prompt import PromptScreen
        from writer.ui.screens.saveas import default_name, save_text_as

        app = self.app
        text = self._editor().text
        content = text.rstrip("\n") + "\n" if text else ""
        store_path = getattr(self.drafts.store, "path", None) or app.store_path
        default = str(Path.cwd() / default_name(self._status().title))

        def chosen(path: str | None) -> None:
            if path and path.strip():
                save_text_as(app, path.strip(), content, store_path)

        app.push_screen(PromptScreen("Save a copy of the text as:", default), chosen)
