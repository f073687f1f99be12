"""The writing screen's writing-tool keys: find, find next, replace, a word goal, save as.

`EditingTools` is owned by the writing screen, which hands itself in and forwards the keys'
actions here: find and replace act on the editor alone; the goal and save-as reach the open
draft through the screen (`drafts.set_word_goal`, `drafts.store`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand

from writer.ui.keys import key_for
from writer.ui.screens.find import FindRequest, FindScreen
from writer.ui.widgets.editor import StoryEditor
from writer.ui.widgets.status import StatusBar

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost

MAX_GOAL = 2**31 - 1


def parse_goal(answer: str) -> int:
    """A word goal typed by the author: a whole number; 0 or nothing removes the goal."""
    cleaned = answer.strip().replace(",", "").replace("_", "")
    if not cleaned:
        return 0
    if not cleaned.isdigit() or int(cleaned) > MAX_GOAL:
        raise ValueError(f"A word goal is a whole number of words, e.g. 1000 (got {answer!r}).")
    return int(cleaned)


class EditingTools:
    """ctrl+f, f6 / shift+f6, f9, f10 and f12 on the writing screen, which is handed in."""

    def __init__(self, screen: WritingHost) -> None:
        self.screen = screen
        self.search = ""
        """The last text looked for (f6 finds it again)."""
        self.replacement = ""

    @property
    def app(self) -> Any:
        return self.screen.app

    def commands(self) -> Iterator[SystemCommand]:
        """These keys in the command palette (ctrl+p)."""
        screen = type(self.screen)
        find, again = key_for(screen, "find"), key_for(screen, "find_next")
        yield SystemCommand("Find", f"Find in the story ({find}; {again}: next)", self.find)
        yield SystemCommand(
            "Replace", f"Find and replace ({key_for(screen, 'replace')})", self.replace
        )
        goal = key_for(screen, "word_goal")
        yield SystemCommand("Word goal", f"Set this draft's word goal ({goal})", self.word_goal)
        save_as = key_for(screen, "save_as")
        yield SystemCommand(
            "Save as", f"Save a copy of the text as a file ({save_as})", self.save_as
        )

    def _editor(self) -> StoryEditor:
        return self.screen.editor

    def _status(self) -> StatusBar:
        return self.screen.status

    # -- find and replace -----------------------------------------------------------------------
    def find(self) -> None:
        def done(request: FindRequest | None) -> None:
            if request is not None:
                self.search = request.query
                self._find(request.query)

        self.app.push_screen(FindScreen(self.search), done)

    def find_next(self, backwards: bool = False) -> None:
        if not self.search:
            self.find()
            return
        self._find(self.search, backwards)

    def _find(self, query: str, backwards: bool = False) -> None:
        if not self._editor().find_next(query, backwards):
            self.app.notify(f"“{query}” is not in the story.", severity="warning")

    def replace(self) -> None:
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
                    self.app.notify(f"Replaced {count} ({key_for(StoryEditor, 'undo')} undoes it).")
                else:
                    self.app.notify(f"“{request.query}” is not in the story.", severity="warning")
            elif not editor.replace_next(request.query, request.replacement):
                self.app.notify(f"“{request.query}” is not in the story.", severity="warning")

        self.app.push_screen(FindScreen(self.search, self.replacement), done)

    # -- the draft's word goal ------------------------------------------------------------------
    def word_goal(self) -> None:
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
            self.screen.drafts.set_word_goal(goal or None)

        question = "Word goal for this draft (a number of words; empty removes it):"
        self.app.push_screen(PromptScreen(question, str(current or "")), done)

    # -- save as --------------------------------------------------------------------------------
    def save_as(self) -> None:
        from pathlib import Path

        from writer.ui.screens.prompt import PromptScreen
        from writer.ui.screens.saveas import default_name, save_text_as

        app = self.app
        text = self._editor().text
        content = text.rstrip("\n") + "\n" if text else ""
        store_path = getattr(self.screen.drafts.store, "path", None) or app.store_path
        default = str(Path.cwd() / default_name(self._status().title))

        def chosen(path: str | None) -> None:
            if path and path.strip():
                save_text_as(app, path.strip(), content, store_path)

        app.push_screen(PromptScreen("Save a copy of the text as:", default), chosen)
