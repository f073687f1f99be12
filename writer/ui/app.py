"""The writing app: an editor, a candidates panel, a status bar, and the keys that join them.

Thin on purpose: generation lives in `generation.py`, saving in `saving.py`, each dialog in
`screens/`. `WriterApp(...)` is the one factory the CLI (`writer [FILE]`) and the tests share;
tests pass `engine_loader` to reuse an already loaded tiny engine and `store_path` to keep the
database in a temp dir.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import TextArea
from textual.worker import Worker, WorkerState

from writer.config import Config, load_config, save_config
from writer.errors import WriterError, error_line, log_exception
from writer.presets import DEFAULT_PRESET, FIELDS, ParamError, SamplingParams, all_presets
from writer.ui.branches import BranchesMixin
from writer.ui.filesync import FileSyncMixin
from writer.ui.generation import EngineLoader, GenerationMixin, default_engine_loader
from writer.ui.guard import StoreGuardMixin
from writer.ui.probabilities import ProbabilitiesMixin
from writer.ui.saving import SavingMixin
from writer.ui.screens.writing import WritingScreen
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import StoryEditor
from writer.ui.widgets.status import StatusBar


class WriterApp(
    GenerationMixin,
    ProbabilitiesMixin,
    BranchesMixin,
    SavingMixin,
    FileSyncMixin,
    StoreGuardMixin,
    App[None],
):
    """The editor with live GPT-2 candidates."""

    TITLE = "writer"
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    """
    # Keys that work everywhere; the story's keys are the writing screen's (screens/writing.py).
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        file: Path | str | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        theme: str | None = None,
        device: str | None = None,
        store_path: Path | None = None,
        engine_loader: EngineLoader | None = None,
        config: Config | None = None,
        autosave_interval: float = 0.5,
    ) -> None:
        super().__init__()
        self.config = config or load_config()
        self.requested_model = model
        self.requested_preset = preset
        self.requested_theme = theme
        self.device = device or self.config.device
        self.store_path = store_path
        self._engine_loader = engine_loader or default_engine_loader
        self._model_settled = threading.Event()
        self._request_info = {}
        self.autosave_interval = autosave_interval
        self.presets = all_presets()
        self.preset_name = DEFAULT_PRESET
        self.overrides: dict[str, Any] = {}
        self.candidate_count = self.config.candidates
        self.init_saving()
        self.file = Path(file).expanduser() if file else None

    # -- layout ---------------------------------------------------------------------------------
    def get_default_screen(self) -> WritingScreen:
        return WritingScreen(on_ready=self._start_writing, id="_default")

    @property
    def writing(self) -> WritingScreen:
        """The writing screen (the default one), whatever dialog is on top."""
        return self.default_screen  # type: ignore[return-value]

    @property
    def editor(self) -> StoryEditor:
        return self.query_one("#editor", StoryEditor)

    @property
    def panel(self) -> CandidatesPanel:
        return self.query_one("#candidates", CandidatesPanel)

    @property
    def status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def _start_writing(self) -> None:
        """Once the writing screen is composed: open the draft, load the model, autosave."""
        self._setup_themes()
        self.open_session()  # the draft or file: text, preset, overrides, model
        self.writing.preset_shown = self.preset_label()
        self.editor.focus()
        self.load_model(self.requested_model or self.session_model() or self.config.model)
        self.start_autosave()
        self.install_signal_handlers()

    # -- themes ---------------------------------------------------------------------------------
    def _setup_themes(self) -> None:
        """Register the themes that passed a full check; one notification for every problem."""
        from writer.themes import load_themes

        loaded = load_themes()  # a user theme that Textual could not apply is skipped there
        for theme in loaded.themes:
            self.register_theme(theme)
        problems = list(loaded.errors)
        wanted = self.requested_theme or self.config.theme
        fallback = "writer-dark" if "writer-dark" in self.available_themes else "textual-dark"
        if wanted not in self.available_themes:
            if wanted not in loaded.broken:
                problems.append(f"Unknown theme {wanted!r}.")
            problems.append(f"Using {fallback}; pick another with ctrl+p → Theme.")
            wanted = fallback
        if problems:
            self.notify(
                "Some theme files were skipped:\n" + "\n".join(problems)
                if loaded.errors
                else "\n".join(problems),
                title="Themes",
                severity="warning",
                timeout=10,
            )
        self.theme = wanted
        # Textual publishes the change later (call_next): remember what is shown now, so that
        # only a theme picked afterwards (ctrl+p) is saved, never a --theme choice.
        self._shown_theme = wanted
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Any) -> None:
        """Persist a theme picked in the command palette (not one given with --theme)."""
        if theme.name == self._shown_theme:
            return
        self._shown_theme = theme.name
        if theme.name == self.config.theme:
            return
        self.config.theme = theme.name
        try:
            save_config(self.config, only=("theme",))
        except (OSError, WriterError) as exc:
            self.notify(f"Could not remember the theme: {exc}", severity="warning")

    def search_themes(self) -> None:  # the theme list: writer's themes first (ui/themelist.py)
        from writer.ui.themelist import search_themes

        search_themes(self)

    # -- presets and parameters -----------------------------------------------------------------
    def current_params(self) -> SamplingParams:
        """The preset's parameters with this draft's overrides applied."""
        base = self.presets.get(self.preset_name) or self.presets[DEFAULT_PRESET]
        try:
            return base.params.replace(**self.overrides)
        except (ParamError, TypeError):
            return base.params

    def preset_label(self) -> str:
        return f"{self.preset_name}*" if self.overrides else self.preset_name

    def set_preset(self, name: str, overrides: dict[str, Any] | None = None) -> None:
        """Switch preset (dropping overrides unless given); remembered for this draft."""
        if name not in self.presets:
            self.notify(f"Unknown preset {name!r}", severity="error")
            return
        self.preset_name = name
        self.overrides = dict(overrides or {})
        self.writing.preset_shown = self.preset_label()
        self.remember_settings()

    def apply_parameters(self, params: SamplingParams, candidates: int) -> None:
        """Keep the fields that differ from the preset as this draft's overrides."""
        base = self.presets[self.preset_name].params
        self.overrides = {
            name: getattr(params, name)
            for name in FIELDS
            if getattr(params, name) != getattr(base, name)
        }
        self.candidate_count = candidates
        self.writing.preset_shown = self.preset_label()
        self.remember_settings()

    def action_pick_preset(self) -> None:
        from writer.ui.screens.presets import PresetPicker

        def chosen(name: str | None) -> None:
            if name:
                self.set_preset(name)
                self.notify(f"Preset: {name}")

        self.push_screen(PresetPicker(self.presets, self.preset_name), chosen)

    def action_parameters(self) -> None:
        from writer.ui.screens.parameters import ParametersScreen

        def done(result: tuple[SamplingParams, int] | None) -> None:
            if result:
                self.apply_parameters(*result)
                self.notify("Parameters apply to the next request.")

        screen = ParametersScreen(self.current_params(), self.candidate_count, self.preset_name)
        self.push_screen(screen, done)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette (ctrl+p): Textual's own commands plus presets, models and dialogs."""
        yield from super().get_system_commands(screen)
        for name, preset in self.presets.items():
            yield SystemCommand(
                f"Preset: {name}", preset.description or "creativity preset", self._preset_cmd(name)
            )
        yield SystemCommand("Parameters", "Edit sampling parameters (f2)", self.action_parameters)
        yield SystemCommand("Drafts library", "Open, create, rename… (ctrl+o)", self.action_drafts)
        yield SystemCommand("History", "Restore an earlier revision (f3)", self.action_history)
        yield SystemCommand(
            "Alternatives", "Candidates of earlier requests (f4)", self.action_alternatives
        )
        yield SystemCommand("Models", "Base and fine-tuned models (f5)", self.action_models)
        yield SystemCommand(
            "Story context",
            "Memory, author's note, lorebook (f8)",
            self.writing.action_story_context,
        )
        yield SystemCommand(
            "Branches", "Every request's candidates, by story point (ctrl+l)", self.action_branches
        )
        yield SystemCommand("Next token", "Most likely next tokens (f7)", self.action_next_token)
        yield SystemCommand("Keys", "Every key (f1)", self.action_help)
        yield from self.writing.commands()

    def _preset_cmd(self, name: str):
        return lambda: self.set_preset(name)

    # -- dialogs --------------------------------------------------------------------------------
    def action_help(self) -> None:
        from writer.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_models(self) -> None:
        from writer.ui.screens.models import ModelsScreen

        def chosen(name: str | None) -> None:
            if name and name != self.model_name:
                self.load_model(name)
                self.remember_settings()
                self.notify(f"Loading model {name}…")

        self.push_screen(ModelsScreen(self.model_name, usage=self._model_usage), chosen)

    def _model_usage(self) -> dict[str, Any]:
        """Acceptance statistics per model for the models dialog (called in its worker)."""
        from writer.store.acceptance import per_model, usage_stats

        return per_model(usage_stats(self.store)) if self.store is not None else {}

    def on_models_screen_compare_requested(self, message: Any) -> None:
        """Blind comparison of the current model (A) and the chosen one (B) on this draft."""
        from writer.store.judgments import JudgmentLog
        from writer.ui.screens.compare import ComparePlan, CompareScreen, Side

        if self.store is None:
            self.notify("Comparisons are stored in the drafts library, which is not available.")
            return
        a = Side.of(self.model_name, self.preset_name)
        b = Side.of(message.model, self.preset_name)
        source = f"draft {self.draft.id}" if self.draft is not None else "this text"
        plan = ComparePlan(a, b, [self.editor.text], source=source)

        def done(summary: Any) -> None:
            if summary is not None and summary.judgments:
                self.notify(" · ".join(summary.lines()[1:]), title="Compare")

        self.push_screen(CompareScreen(plan, JudgmentLog(self.store)), done)

    def action_drafts(self) -> None:
        from writer.ui.screens.drafts import DraftsScreen

        def chosen(result: tuple[str, int | None] | None) -> None:
            self.refresh_title()
            if result is None:
                return
            what, draft_id = result
            if what == "new" or draft_id != getattr(self.draft, "id", None):
                self.switch_draft(draft_id)

        if self.store is None:
            self.notify(
                "The drafts library is not available: " + self.session.save_error, severity="error"
            )
            return
        self.save_now()
        self.push_screen(DraftsScreen(self.store, getattr(self.draft, "id", None)), chosen)

    def action_history(self) -> None:
        from writer.ui.screens.history import HistoryScreen

        if self.store is None or self.draft is None:
            self.notify("No history: the drafts store is not available.", severity="warning")
            return
        self.save_now()
        try:
            revisions = self.store.history(self.draft.id)
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return
        self.push_screen(HistoryScreen(revisions), self.restore_revision)

    def restore_revision(self, revision_id: int | None) -> None:
        """Make revision `revision_id` the text (itself a revision; one undo step in the editor)."""
        if revision_id is None:
            return
        if self.read_only:
            self.notify("This draft is open read-only.", severity="warning")
            return
        try:
            draft = self.store.restore_revision(self.draft.id, revision_id)
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return
        editor = self.editor
        editor.history.checkpoint()
        editor.replace(draft.text, (0, 0), editor.document.end, maintain_selection_offset=False)
        editor.history.checkpoint()
        self.session.dirty = False
        if self.external is not None:
            self.session.dirty = True
            self.save_now(reason="external-save")  # the file gets the restored text too
        self.update_save_state()
        self.notify("Revision restored (ctrl+z undoes it).")

    def action_alternatives(self) -> None:
        from writer.ui.screens.alternatives import AlternativesScreen

        if self.store is None or self.draft is None:
            self.notify("No alternatives: the drafts store is not available.", severity="warning")
            return
        try:
            records = self.store.generations(self.draft.id)
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return

        def chosen(result: tuple[str, str] | None) -> None:
            if result is None or self.read_only:
                return
            mode, text = result
            if mode == "ideas":
                self.editor.insert_idea(text)
            else:
                self.editor.insert_as_one_step(text)
            self.save_now(reason="insert")
            self.editor.focus()

        self.push_screen(AlternativesScreen(records), chosen)

    # -- keys -----------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        """escape: stop a running request and close the panel."""
        self.cancel_generation()
        if self.panel.is_open:
            self.panel.close()
        self.editor.focus()

    def on_unmount(self) -> None:
        self.remove_signal_handlers()
        if self._cancel is not None:
            self._cancel.set()  # the engine stops within a token; exit need not wait long
        self.close_store()

    @property
    def model_loading(self) -> bool:
        """True while a model load is still running (its thread cannot be interrupted)."""
        return not self._model_settled.is_set()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        # A change can arrive after the screen is torn down on exit: nothing to save then.
        if isinstance(event.text_area, StoryEditor) and self.query(StoryEditor):
            self.text_changed()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The backstop for every worker: an error none of them caught is logged and shown in
        one line, never a crash (workers run with exit_on_error=False)."""
        error = event.worker.error
        if event.state == WorkerState.ERROR and error is not None:
            self._log_exception(error)
            what = event.worker.group if event.worker.group != "default" else "A background task"
            self.notify(f"{what} failed: {error_line(error)}", severity="error", timeout=10)

    def _log_exception(self, exc: BaseException) -> None:
        """Full details to the log file; the screen only shows one line."""
        log_exception(exc)
