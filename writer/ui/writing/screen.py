"""The writing screen: the editor, the candidates panel, the status bar, and the story's keys.

The App's default screen, and the owner of the story's state: the sampling choice (preset,
overrides, candidate count), `generation` (requests, generation.py), `probabilities` (the token
views, probabilities.py) and `drafts` (the open draft and its saving, saving.py, which owns the
`DraftSession`). Its bindings go quiet by themselves whenever a dialog or another screen is on
top: no list of actions to block. The status bar follows this screen's reactives (`data_bind`);
code anywhere sets one attribute, e.g. `screen.save_state = "save failed"`, and the bar (red,
there) follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, TextArea

from writer.presets import DEFAULT_PRESET, FIELDS, ParamError, SamplingParams, all_presets
from writer.ui.messages import (
    AutosaveWritten,
    CandidateDeltas,
    CandidateFinished,
    CandidatesStarted,
    GenerationFailed,
    GenerationFinished,
)
from writer.ui.story_context import current_context
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import StoryEditor
from writer.ui.widgets.status import ModelState, SaveState, StatusBar
from writer.ui.writing import library, page, palette
from writer.ui.writing.editing import EditingTools
from writer.ui.writing.generation import Generation
from writer.ui.writing.learning import Learning
from writer.ui.writing.probabilities import NextTokensReady, Probabilities
from writer.ui.writing.saving import OpenDraft
from writer.ui.writing.suggestion import InlineSuggester

CANDIDATES = "candidates"  # the key of the f2 candidate count among a draft's overrides


class WritingScreen(Screen[None]):
    """Editor, candidates and status bar. Keys: the help screen (f1), docs/guide/writing.md."""

    # ctrl+a and ctrl+b stay free for tmux/screen.
    BINDINGS = [
        Binding("ctrl+g", "generate('continue')", "Continue"),
        # The app's save, help and quit, declared here too so that the footer shows them next,
        # within 80 columns (the footer lists keys in this order; the app still handles them).
        Binding("ctrl+s", "app.save", "Save"),
        Binding("f1", "app.help", "Help"),
        Binding("ctrl+q", "app.quit", "Quit"),
        Binding("ctrl+n", "generate('ideas')", "Ideas"),
        Binding("ctrl+r", "regenerate", "Again", show=False),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+t", "pick_preset", "Preset"),
        Binding("f2", "parameters", "Params"),
        Binding("ctrl+o", "drafts", "Drafts"),
        Binding("f3", "history", "History", show=False),
        Binding("f4", "alternatives", "Alternatives", show=False),
        Binding("f5", "models", "Models", show=False),
        Binding("shift+f5", "learn", "Learn from picks", show=False),  # ui/writing/learning.py
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
        # ctrl+backslash reaches the app through terminals and tmux; TextArea leaves it free.
        Binding("ctrl+backslash", "focus_mode", "Focus", show=False, priority=True),
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

    def __init__(
        self,
        *,
        candidates: int,
        autosave_interval: float = 0.5,
        file: Path | None = None,
        id: str | None = None,
    ) -> None:
        """`file`: the text file to open (the command line's FILE); None opens the last draft."""
        super().__init__(id=id)
        self.presets = all_presets()
        self.preset_name = DEFAULT_PRESET
        self.overrides: dict[str, Any] = {}
        """This draft's f2 settings that differ from the preset (and `candidates`, the count)."""
        self.default_candidates = candidates
        self.generation = Generation(self)
        self.probabilities = Probabilities(self)
        self.drafts = OpenDraft(self, autosave_interval)
        self.drafts.file = file
        self.tools = EditingTools(self)
        self.learning = Learning(self)

    # The writing tools (ui/writing/editing.py).
    def action_find(self) -> None:
        self.tools.find()

    def action_find_next(self, backwards: bool = False) -> None:
        self.tools.find_next(backwards)

    def action_replace(self) -> None:
        self.tools.replace()

    def action_word_goal(self) -> None:
        self.tools.word_goal()

    def action_save_as(self) -> None:
        self.tools.save_as()

    # The page: focus mode, the column, Markdown by the title (ui/writing/page.py).
    def action_focus_mode(self) -> None:
        page.toggle_focus_mode(self)

    def on_status_bar_title_changed(self, message: StatusBar.TitleChanged) -> None:
        page.apply_title(self, message.title)

    def commands(self) -> Iterator[SystemCommand]:
        """The story's palette entries after the app's own (ui/writing/palette.py)."""
        return palette.story_commands(self)

    def action_chat(self) -> None:
        from writer.ui.screens.chat import open_chat

        open_chat(self)

    def compose(self) -> ComposeResult:
        yield StoryEditor(id="editor")
        yield CandidatesPanel(id="candidates", join=lambda text: self.editor.joined_at_cursor(text))
        yield StatusBar(id="status").data_bind(
            save_state=WritingScreen.save_state,
            model_state=WritingScreen.model_state,
            model_detail=WritingScreen.model_detail,
            preset=WritingScreen.preset_shown,
            context_fill=WritingScreen.context_fill,
        )
        yield Footer()

    @property
    def editor(self) -> StoryEditor:
        return self.query_one("#editor", StoryEditor)

    @property
    def panel(self) -> CandidatesPanel:
        return self.query_one("#candidates", CandidatesPanel)

    @property
    def status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def on_mount(self) -> None:
        """Open the draft into the widgets composed here, load the model, start autosave."""
        app = self.app
        app.setup_themes()
        page.apply_page(self)
        self.drafts.open_session()  # the draft or file: text, preset, overrides, model
        self.drafts.learn_hint = self.learning.hint()
        self.preset_shown = self.preset_label()
        self.editor.suggester = InlineSuggester.for_editor(  # None unless config.toml asks
            self.editor,
            engine=lambda: app.model.engine,
            params=self.current_params,
            context=lambda: current_context(self.drafts),
        )
        self.editor.focus()
        app.model.load(app.requested_model or self.drafts.session_model() or app.config.model)
        self.drafts.start_autosave()
        self.drafts.guard.install_signal_handlers()

    def shutdown(self) -> None:
        """The app is going away: stop a request, drop the signal handlers, close the store."""
        self.drafts.guard.remove_signal_handlers()
        self.generation.stop()  # the engine stops within a token; exit need not wait long
        self.learning.shutdown()
        self.drafts.close_store()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Under a dialog these keys do nothing (bindings of a covered screen are inactive);
        # hide them from the footer that still shows beneath the dialog, too.
        return self.is_active

    def on_screen_suspend(self) -> None:
        self.refresh_bindings()  # a dialog opened: hide the story keys in the footer

    def on_screen_resume(self) -> None:
        self.refresh_bindings()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        # A change can arrive after the screen is torn down on exit: nothing to save then.
        if isinstance(event.text_area, StoryEditor) and self.query(StoryEditor):
            self.drafts.text_changed()

    # -- presets and parameters -----------------------------------------------------------------
    @property
    def candidate_count(self) -> int:
        """How many candidates a request asks for: this draft's f2 count, else config.toml's."""
        try:
            return max(1, min(int(self.overrides.get(CANDIDATES, self.default_candidates)), 9))
        except (TypeError, ValueError):
            return self.default_candidates

    @candidate_count.setter
    def candidate_count(self, count: int) -> None:
        self.overrides = {k: v for k, v in self.overrides.items() if k != CANDIDATES}
        if count != self.default_candidates:
            self.overrides[CANDIDATES] = count

    def current_params(self) -> SamplingParams:
        """The preset's parameters with this draft's overrides applied."""
        base = self.presets.get(self.preset_name) or self.presets[DEFAULT_PRESET]
        fields = {k: v for k, v in self.overrides.items() if k != CANDIDATES}
        try:
            return base.params.replace(**fields)
        except (ParamError, TypeError):
            return base.params

    def preset_label(self) -> str:
        changed = any(k != CANDIDATES for k in self.overrides)
        return f"{self.preset_name}*" if changed else self.preset_name

    def set_preset(self, name: str, overrides: dict[str, Any] | None = None) -> None:
        """Switch preset (dropping its parameter overrides unless given; the candidate count
        stays); remembered for this draft."""
        if name not in self.presets:
            self.app.notify(f"Unknown preset {name!r}", severity="error")
            return
        count = self.candidate_count
        self.preset_name = name
        self.overrides = dict(overrides or {})
        self.candidate_count = count
        self.preset_shown = self.preset_label()
        self.drafts.remember_settings()

    def apply_parameters(self, params: SamplingParams, candidates: int) -> None:
        """Keep the fields that differ from the preset as this draft's overrides."""
        base = self.presets[self.preset_name].params
        self.overrides = {
            name: getattr(params, name)
            for name in FIELDS
            if getattr(params, name) != getattr(base, name)
        }
        self.candidate_count = candidates
        self.preset_shown = self.preset_label()
        self.drafts.remember_settings()

    def action_pick_preset(self) -> None:
        from writer.ui.screens.presets import PresetPicker

        def chosen(name: str | None) -> None:
            if name:
                self.set_preset(name)
                self.app.notify(f"Preset: {name}")

        self.app.push_screen(PresetPicker(self.presets, self.preset_name), chosen)

    def action_parameters(self) -> None:
        from writer.ui.screens.parameters import ParametersScreen

        def done(result: tuple[SamplingParams, int] | None) -> None:
            if result:
                self.apply_parameters(*result)
                self.app.notify("Parameters apply to the next request.")

        screen = ParametersScreen(self.current_params(), self.candidate_count, self.preset_name)
        self.app.push_screen(screen, done)

    # -- generation -----------------------------------------------------------------------------
    def action_generate(self, mode: str = "continue") -> None:
        self.generation.start(mode)

    def action_regenerate(self) -> None:
        self.generation.again()

    def action_cancel(self) -> None:
        """escape: stop a running request and close the panel."""
        self.generation.cancel()
        if self.panel.is_open:
            self.panel.close()
        self.editor.focus()

    # The generation worker posts to this screen; `generation` owns what its messages change.
    def on_candidates_started(self, message: CandidatesStarted) -> None:
        self.generation.started(message)

    def on_candidate_deltas(self, message: CandidateDeltas) -> None:
        self.generation.deltas(message)

    def on_candidate_finished(self, message: CandidateFinished) -> None:
        self.generation.candidate_finished(message)

    def on_generation_finished(self, message: GenerationFinished) -> None:
        self.generation.finished(message)

    def on_generation_failed(self, message: GenerationFailed) -> None:
        self.generation.failed(message)

    def on_candidates_panel_chosen(self, message: CandidatesPanel.Chosen) -> None:
        self.generation.chosen(message)

    def on_candidates_panel_continue_requested(
        self, message: CandidatesPanel.ContinueRequested
    ) -> None:
        self.generation.continue_candidate(message)

    # -- token probabilities ------------------------------------------------------------------
    def on_candidates_panel_probabilities_requested(
        self, message: CandidatesPanel.ProbabilitiesRequested
    ) -> None:
        self.probabilities.show_candidate(message)

    def action_inserted_probabilities(self) -> None:
        self.probabilities.show_inserted()

    def action_next_token(self) -> None:
        self.probabilities.next_token()

    def on_next_tokens_ready(self, message: NextTokensReady) -> None:
        self.probabilities.next_tokens_ready(message)

    def on_autosave_written(self, message: AutosaveWritten) -> None:
        self.drafts.autosave_written(message)

    def action_branches(self) -> None:
        from writer.ui.writing.branches import open_branches

        open_branches(self)

    def action_story_context(self) -> None:
        from writer.ui.writing.context import open_context_dialog

        open_context_dialog(self)

    # -- dialogs about the draft and the model --------------------------------------------------
    def action_models(self) -> None:
        from writer.ui.screens.models import ModelsScreen

        model = self.app.model
        self.app.push_screen(
            ModelsScreen(model.name, usage=self._model_usage, error=model.error),
            self.switch_model,
        )

    def switch_model(self, name: str | None) -> None:
        """Load model `name` for this draft (f5's choice, or a model just learned)."""
        model = self.app.model
        if name and name != model.name:
            model.load(name)
            self.drafts.remember_settings()
            self.app.notify(f"Loading model {name}…")

    def action_learn(self) -> None:
        self.learning.pressed()

    def _model_usage(self) -> dict[str, Any]:
        """Acceptance statistics per model for the models dialog (called in its worker)."""
        from writer.store.acceptance import per_model, usage_stats

        store = self.drafts.store
        return per_model(usage_stats(store)) if store is not None else {}

    def compare_with(self, model: str) -> None:
        """Blind comparison of the current model (A) and `model` (B) on this draft."""
        from writer.ui.screens.compare import ComparePlan, CompareScreen, Side

        drafts, app = self.drafts, self.app
        if drafts.store is None:
            app.notify("Comparisons are stored in the drafts library, which is not available.")
            return
        a = Side.of(app.model.name, self.preset_name)
        b = Side.of(model, self.preset_name)
        source = f"draft {drafts.draft.id}" if drafts.draft is not None else "this text"
        plan = ComparePlan(a, b, [self.editor.text], source=source)

        def done(summary: Any) -> None:
            if summary is not None and summary.judgments:
                app.notify(" · ".join(summary.lines()[1:]), title="Compare")

        app.push_screen(CompareScreen(plan, drafts.store.judgments), done)

    def action_drafts(self) -> None:
        library.open_drafts(self)

    def action_history(self) -> None:
        library.open_history(self)

    def restore_revision(self, revision_id: int | None) -> None:
        """Make revision `revision_id` the text (itself a revision; one undo step in the editor)."""
        library.restore_revision(self, revision_id)

    def action_alternatives(self) -> None:
        library.open_alternatives(self)
