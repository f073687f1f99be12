"""The writing app: a thin App over its writing screen (writing/screen.py).

The App holds what every screen shares: the config, the command-line choices, the loaded model
(`model`, a `ModelSlot`), themes, the palette and the keys that work everywhere. The story's
state and behaviour are the writing screen's and its components' (generation, probabilities,
the open draft and its `DraftSession`): reach them through `app.writing` (the default screen,
whatever dialog is on top), e.g. `app.writing.editor`, `app.writing.drafts.store`. `WriterApp(...)`
is the one factory the CLI (`writer [FILE]`) and the tests share; tests pass `engine_loader` to
reuse an already loaded tiny engine and `store_path` to keep the database in a temp dir.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from writer.config import Config, load_config, save_config
from writer.errors import WriterError, error_line, log_exception
from writer.ui.keys import key_for
from writer.ui.messages import ModelFailed, ModelLoading, ModelReady
from writer.ui.model import EngineLoader, ModelSlot, default_engine_loader
from writer.ui.writing import palette
from writer.ui.writing.screen import WritingScreen


class WriterApp(App[None]):
    """The editor with live GPT-2 candidates."""

    TITLE = "writer"
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    """
    # Keys that work everywhere; the story's keys are the writing screen's (writing/screen.py).
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
        self.requested_preset = preset  # --preset: the first draft's only (see OpenDraft)
        self.requested_theme = theme
        self.store_path = store_path
        self.model = ModelSlot(
            self, engine_loader or default_engine_loader, device or self.config.device
        )
        self._writing = WritingScreen(
            candidates=self.config.candidates,
            autosave_interval=autosave_interval,
            file=Path(file).expanduser() if file else None,  # the draft opens it (OpenDraft)
            id="_default",
        )

    def get_default_screen(self) -> WritingScreen:
        return self._writing

    def get_driver_class(self) -> Any:
        """Textual's Linux driver with input in batches and an exit when the terminal hangs
        up (ui/textual_ext/driver.py); any other driver (tests' headless one,
        $TEXTUAL_DRIVER) as is."""
        from textual.drivers.linux_driver import LinuxDriver

        driver = super().get_driver_class()
        if driver is LinuxDriver:
            try:  # it extends Textual internals: a Textual that lacks them runs as is
                from writer.ui.textual_ext.driver import WriterDriver
            except ImportError:
                return driver
            return WriterDriver
        return driver

    async def _check_bindings(self, key: str, priority: bool = False) -> bool:
        # Every key is first checked against the priority bindings, and Textual builds the
        # whole binding chain for that (copies of every map from the focused widget up): most
        # of a raw paste's cost per key. No priority binding for the key anywhere in the chain
        # (the usual answer) needs no chain. With a keymap (it can move bindings), as Textual.
        if priority and not self._keymap and not self._priority_bound(key):
            return False
        return await super()._check_bindings(key, priority)

    def _priority_bound(self, key: str) -> bool:
        """Whether any node that Screen._binding_chain would walk has a priority binding for
        `key` (that chain only ever drops bindings, so this never misses one)."""
        screen = self.screen
        focused = screen.focused
        if focused is not None and not focused.loading:
            nodes = focused.ancestors_with_self
        else:
            nodes = [screen, self]
        for node in nodes:
            for binding in node._bindings.key_to_bindings.get(key, ()):
                if binding.priority:
                    return True
        return False

    # -- shortcuts to the writing screen and what it owns ----------------------------------------
    @property
    def writing(self) -> WritingScreen:
        """The writing screen (the default one), whatever dialog is on top."""
        return self._writing

    # -- themes ---------------------------------------------------------------------------------
    def setup_themes(self) -> None:
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
            palette = key_for(self, "command_palette")
            problems.append(f"Using {fallback}; pick another with {palette} → Theme.")
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

    # -- the palette ----------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette (ctrl+p): Textual's own commands plus presets, models and dialogs."""
        yield from super().get_system_commands(screen)
        yield from palette.dialog_commands(self.writing)
        yield SystemCommand("Keys", f"Every key ({key_for(self, 'help')})", self.action_help)
        yield from self.writing.commands()

    # -- the model ------------------------------------------------------------------------------
    def on_model_loading(self, message: ModelLoading) -> None:
        self.writing.model_state = "loading"
        self.writing.model_detail = message.name

    def on_model_ready(self, message: ModelReady) -> None:
        if self.model.ready(message):
            self.writing.model_state = "ready"
            self.writing.model_detail = f"{message.name}, {message.device}".strip(", ")

    def on_model_failed(self, message: ModelFailed) -> None:
        if not self.model.failed(message):
            return
        self.writing.model_state = "error"
        self.writing.model_detail = message.reason
        self.notify(
            f"Model {message.name!r} did not load: {message.reason}",
            title="Model",
            severity="error",
            timeout=10,
        )

    def on_models_screen_compare_requested(self, message: Any) -> None:
        self.writing.compare_with(message.model)

    # -- keys that work everywhere --------------------------------------------------------------
    def action_help(self) -> None:
        from writer.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_save(self) -> None:
        """ctrl+s: save now (and resolve a changed-on-disk conflict)."""
        self.writing.drafts.save_manually()

    async def action_quit(self) -> None:
        """ctrl+q: save, then quit; if the text is not safe everywhere it belongs, ask first."""
        self.writing.drafts.quit()

    def on_unmount(self) -> None:
        self.writing.shutdown()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The backstop for every worker: an error none of them caught is logged and shown in
        one line, never a crash (workers run with exit_on_error=False)."""
        error = event.worker.error
        if event.state == WorkerState.ERROR and error is not None:
            log_exception(error)
            what = event.worker.group if event.worker.group != "default" else "A background task"
            self.notify(f"{what} failed: {error_line(error)}", severity="error", timeout=10)
