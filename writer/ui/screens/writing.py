"""The writing screen: the editor, the candidates panel, the status bar, and the story's keys.

The App's default screen. Its bindings act on the story (through the app's actions), so they go
quiet by themselves whenever a dialog or another screen is on top: no list of actions to block.
The status bar follows this screen's reactives (`data_bind`); code anywhere sets one attribute,
e.g. `screen.save_state = "save failed"`, and the bar (red, there) follows.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from writer.ui.editing import EditingKeys
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import StoryEditor
from writer.ui.widgets.status import ModelState, SaveState, StatusBar


class WritingScreen(EditingKeys, Screen[None]):
    """Editor, candidates and status bar. Keys: see the help screen (f1) and README."""

    # ctrl+a and ctrl+b stay free for tmux/screen.
    BINDINGS = [
        Binding("ctrl+g", "generate('continue')", "Continue"),
        Binding("ctrl+n", "generate('ideas')", "Ideas"),
        Binding("ctrl+r", "regenerate", "Again", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+t", "pick_preset", "Preset"),
        Binding("f2", "parameters", "Params"),
        Binding("ctrl+o", "drafts", "Drafts"),
        Binding("f3", "history", "History", show=False),
        Binding("f4", "alternatives", "Alternatives", show=False),
        Binding("f5", "models", "Models", show=False),
        Binding("f8", "story_context", "Context"),
        Binding("shift+f8", "chat", "Chat", show=False),
        # f6/f7 are TextArea's select-line/select-all: priority, so the screen's keys win.
        Binding("f7", "next_token", "Next token", show=False, priority=True),
        Binding("shift+f9", "inserted_probabilities", "Probabilities", show=False),
        Binding("ctrl+l", "branches", "Branches", show=False),
        # The editor's writing-tool keys (editing.py); f3 is history and f8 the story context.
        Binding("ctrl+f", "find", "Find", show=False),
        Binding("f6", "find_next", "Find next", show=False, priority=True),
        Binding("shift+f6", "find_next(True)", "Find previous", show=False),
        Binding("f9", "replace", "Replace", show=False),
        Binding("f10", "word_goal", "Word goal", show=False),
        Binding("f12", "save_as", "Save as", show=False),
    ]

    save_state: reactive[SaveState] = reactive("saved")
    """Whether the text is safe: the status bar follows it (red when a save failed)."""
    model_state: reactive[ModelState] = reactive("loading")
    """The model's state for the status bar; `model_detail` says which model or why not."""
    model_detail: reactive[str] = reactive("")
    context_fill: reactive[str] = reactive("")
    """The last request's (or edited context's) prompt size, e.g. "ctx 812/1024"."""
    preset_shown: reactive[str] = reactive("")
    """The preset's name, with a `*` when this draft overrides some of its parameters."""

    def __init__(self, on_ready: Callable[[], None], id: str | None = None) -> None:
        super().__init__(id=id)
        self._on_ready = on_ready

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Under a dialog these keys do nothing (bindings of a covered screen are inactive);
        # hide them from the footer that still shows beneath the dialog, too.
        return self.is_active

    # The story's actions; the app carries them out (it owns the draft and the model).
    def action_generate(self, mode: str = "continue") -> None:
        self.app.action_generate(mode)

    def action_regenerate(self) -> None:
        self.app.action_regenerate()

    def action_cancel(self) -> None:
        self.app.action_cancel()

    def action_pick_preset(self) -> None:
        self.app.action_pick_preset()

    def action_parameters(self) -> None:
        self.app.action_parameters()

    def action_drafts(self) -> None:
        self.app.action_drafts()

    def action_history(self) -> None:
        self.app.action_history()

    def action_alternatives(self) -> None:
        self.app.action_alternatives()

    def action_models(self) -> None:
        self.app.action_models()

    def action_story_context(self) -> None:
        from writer.ui.screens.context import open_context_dialog

        open_context_dialog(self.app)

    def action_chat(self) -> None:
        from writer.ui.screens.chat import open_chat

        open_chat(self.app)

    def action_next_token(self) -> None:
        self.app.action_next_token()

    def action_inserted_probabilities(self) -> None:
        self.app.action_inserted_probabilities()

    def action_branches(self) -> None:
        self.app.action_branches()

    def on_screen_suspend(self) -> None:
        self.refresh_bindings()  # a dialog opened: hide the story keys in the footer

    def on_screen_resume(self) -> None:
        self.refresh_bindings()

    def on_mount(self) -> None:
        self._on_ready()  # the app opens the draft into the widgets composed here

    def compose(self) -> ComposeResult:
        yield StoryEditor(id="editor")
        yield CandidatesPanel(id="candidates")
        yield StatusBar(id="status").data_bind(
            save_state=WritingScreen.save_state,
            model_state=WritingScreen.model_state,
            model_detail=WritingScreen.model_detail,
            preset=WritingScreen.preset_shown,
            context_fill=WritingScreen.context_fill,
        )
        yield Footer()
