"""Keeping the author's text safe, the Textual side: opening drafts, the autosave timer, quit.

`OpenDraft` is owned by the writing screen. It owns the `DraftSession` (session.py, plain
Python: dirty state, autosave timing, store-then-file saves, failures and retries) and its two
collaborators, `FileSync` (filesync.py: the external file) and `StoreGuard` (guard.py: signals,
a database changed underneath), drives them from the screen's events and shows what they report.

Autosave: a timer on the UI thread decides when (`DraftSession.autosave_due`) and takes a
snapshot of the text; a thread worker writes it (the store's diff and write, then the file), so
nothing linear in the story's length but that snapshot runs on the UI thread. The other saves
(ctrl+s, an insertion, quitting, switching drafts) run on the UI thread, and wait for a write in
flight (DraftSession.lock).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from writer.errors import WriterError, error_line
from writer.presets import SamplingParams
from writer.ui.keys import key_for
from writer.ui.messages import AutosaveWritten
from writer.ui.writing.filesync import FileSync
from writer.ui.writing.guard import StoreGuard
from writer.ui.writing.learn_hint import LearnHint
from writer.ui.writing.session import DraftSession
from writer.ui.writing.sharing import claim_draft
from writer.ui.writing.untouched import forget_if_untouched

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost


def _session_attr(name: str) -> property:
    """The open draft's parts live on the session; this keeps their short names here."""
    return property(
        lambda self: getattr(self.session, name),
        lambda self, value: setattr(self.session, name, value),
    )


class OpenDraft:
    """The open draft (a store draft, possibly shadowing an external file) and its saving."""

    def __init__(self, screen: WritingHost, autosave_interval: float) -> None:
        self.screen = screen
        self.autosave_interval = autosave_interval

        def open_store() -> Any:
            from writer.store import DraftStore

            app = self.screen.app
            return DraftStore.open(app.store_path, config=app.config)

        self.session = DraftSession(
            open_store,
            autosave_interval=autosave_interval,
            key_for=lambda action: key_for(type(screen), action),
        )
        self.files = FileSync(self)
        self.guard = StoreGuard(self)
        self._generation_ids: dict[int, int] = {}  # request -> its row in the generation log
        self._pending_insert: dict[int, int] = {}  # request -> candidate inserted before logged
        self.learn_hint: LearnHint | None = None  # made at the first insertion (needs the app)
        self._loading_text = False
        self._words_stale = False  # the editor changed since the status bar's word count
        self._autosaving = False  # a snapshot is being written by the autosave worker
        self.exiting = False
        self.story_context: tuple[int | None, Any] | None = None  # (draft id, its context)
        self.recaller: tuple[int | None, Any] | None = None  # (draft id, its Recaller)

    store = _session_attr("store")
    draft = _session_attr("draft")
    external = _session_attr("external")
    file = _session_attr("file")
    read_only = _session_attr("read_only")

    @property
    def app(self) -> Any:
        return self.screen.app

    def show_notices(self) -> None:
        """Show what the session has to say, and its state in the status bar."""
        for notice in self.session.take_notices():
            self.app.notify(
                notice.message, title=notice.title, severity=notice.severity, timeout=notice.timeout
            )
        self.screen.save_state = self.session.state

    # -- opening --------------------------------------------------------------------------------
    def open_session(self) -> None:
        """Open the store, then the file given on the command line or the last draft."""
        from writer.store import DraftStore

        try:
            self.store = DraftStore.open(self.app.store_path, config=self.app.config)
        except WriterError as exc:
            self.store = None
            self.session.save_error = str(exc)
            self.app.notify(
                f"Drafts cannot be saved: {exc}. Your text stays here; saving is retried.",
                title="Drafts",
                severity="error",
                timeout=15,
            )
        if self.store is not None and self.store.recovery_message:
            self.app.notify(
                self.store.recovery_message, title="Drafts", severity="warning", timeout=20
            )
        text = ""
        if self.file is not None:
            text = self.files.open_external(self.file)
        elif self.store is not None:
            text = self.files.open_last_edited()
        self._show_draft(text)

    def _show_draft(self, text: str) -> None:
        """Put the draft's text and settings into the editor and status bar."""
        self._loading_text = True
        self.screen.editor.load_text(text)
        draft = self.draft
        if draft is not None:
            self.screen.editor.restore_position(draft.cursor, draft.scroll)
            preset = self.app.requested_preset or draft.preset or self.app.config.preset
            overrides = dict(draft.overrides) if draft.preset == preset else {}
            overrides.update((k, v) for k, v in draft.overrides.items() if k == "candidates")
        else:
            self.screen.editor.restore_position(None, None)
            preset, overrides = self.app.requested_preset or self.app.config.preset, {}
        if preset not in self.screen.presets:
            self.app.notify(f"Unknown preset {preset!r}; using balanced.", severity="warning")
            preset, overrides = "balanced", {}
        self.screen.preset_name, self.screen.overrides = preset, dict(overrides or {})
        self.app.requested_preset = None  # --preset applies to the first draft only
        self.screen.preset_shown = self.screen.preset_label()
        self.session.loaded()
        self.session.opened_at(*self.screen.editor.position)
        self.screen.context_fill = ""  # the last request's fill was another draft's
        self._update_title()
        claim_draft(self)
        self.update_save_state()
        self.files.ask_about_divergence()

    def _update_title(self) -> None:
        if self.external is not None:
            self.screen.status.title = str(self.file.name if self.file else "")
        elif self.draft is not None:
            self.screen.status.title = self.draft.display_title
        else:
            self.screen.status.title = self.session.new_draft_title
        self.screen.status.words = self.screen.editor.word_count()
        self._words_stale = False
        self.screen.status.goal = getattr(self.draft, "word_goal", None)
        self.app.sub_title = self.screen.status.title

    def refresh_title(self) -> None:
        """Re-read the open draft's title (after a rename in the library)."""
        if self.store is not None and self.draft is not None:
            try:
                self.draft = self.store.get_draft(self.draft.id)
            except WriterError:
                return
        self._update_title()

    def session_model(self) -> str | None:
        return getattr(self.draft, "model", None)

    def switch_draft(self, draft_id: int | None) -> None:
        """Save this draft, then open draft `draft_id` (None: a new one); a draft that belongs
        to a file opens that file, whichever way it was reached."""
        if not self.save_now():
            self.app.notify("Not switching: this draft could not be saved.", severity="error")
            return
        self.session.remember_position(*self.screen.editor.position)
        self.release_draft()
        try:
            if draft_id is None:
                draft = self.store.create_draft()
            else:
                draft = self.store.get_draft(draft_id)
        except WriterError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.external, self.file, self.draft = None, None, draft
        self.session.conflict, self.session.file_error, self._divergence_question = False, "", ""
        self.session.new_draft_title = ""
        text = draft.text
        if draft.external_path:
            text = self.files.open_external(Path(draft.external_path), draft)
        self._show_draft(text)

    def release_draft(self) -> None:
        if self.store is not None and self.draft is not None and not self.read_only:
            try:
                self.store.release_lock(self.draft.id)
            except (WriterError, OSError):
                pass

    def remember_settings(self) -> None:
        """This draft's preset, overrides and model, for next time."""
        if self.store is None or self.draft is None or self.read_only:
            return
        try:
            self.store.set_draft_settings(
                self.draft.id,
                preset=self.screen.preset_name,
                overrides=self.screen.overrides,
                model=None,
            )
            if self.app.model.name and self.app.model.name != (
                self.app.requested_model or self.app.config.model
            ):
                self.store.set_draft_settings(self.draft.id, model=self.app.model.name)
        except WriterError as exc:
            self.app.notify(f"Settings not saved: {exc}", severity="warning")

    def set_word_goal(self, goal: int | None) -> None:
        """This draft's word goal (None removes it): shown in the status bar, kept per draft."""
        self.screen.status.goal = goal
        if self.store is None or self.draft is None or self.read_only:
            self.app.notify("The goal is shown but not kept: the draft cannot be saved now.")
            return
        try:
            self.store.set_word_goal(self.draft.id, goal)
            self.draft.word_goal = goal
        except WriterError as exc:
            self.app.notify(f"Word goal not saved: {exc}", severity="warning")
            return
        self.app.notify(f"Word goal: {goal} words." if goal else "Word goal removed.", timeout=3)

    # -- autosave -------------------------------------------------------------------------------
    def start_autosave(self) -> None:
        self.app.set_interval(self.autosave_interval / 2, self._autosave_tick, name="autosave")

    def text_changed(self) -> None:
        """Called on every edit of the editor: nothing here may cost time in the length of
        the story (the word count is the autosave timer's, a few times a second)."""
        self._words_stale = True
        if self._loading_text:
            self._loading_text = False
            return
        self.session.edited()
        self.screen.save_state = self.session.state  # "unsaved" unless something worse

    def _autosave_tick(self) -> None:
        from textual.css.query import NoMatches

        try:
            editor, status = self.screen.editor, self.screen.status
        except NoMatches:
            return  # the app is exiting: its widgets are already gone
        if self._words_stale:
            self._words_stale = False
            status.words = editor.word_count()
        if self.read_only or self.exiting or self._autosaving:
            return
        self.guard.check_store_file()
        if self.session.autosave_due():
            self._autosave(editor)
        elif not self.session.dirty and self.session.position_due(*editor.position):
            self.session.remember_position(*editor.position)
        elif self.session.file_retry_due():
            self.session.write_file(self.screen.editor.text)
            self.show_notices()

    def _autosave(self, editor: Any) -> None:
        """Write a snapshot of the text on a worker thread (the UI thread only copies it)."""
        cursor, scroll = editor.position
        snapshot = self.session.snapshot(editor.text, cursor, scroll)
        if snapshot is None:  # no store or draft yet: opening or creating one shows dialogs
            self.save_now()
            return
        self._autosaving = True
        session, screen = self.session, self.screen

        def write() -> None:
            screen.post_message(AutosaveWritten(session.write_snapshot(snapshot)))

        self.app.run_worker(write, thread=True, exit_on_error=False, group="autosave")

    def autosave_written(self, message: AutosaveWritten) -> None:
        """The worker's outcome, on the UI thread: the status bar and any notices."""
        self._autosaving = False
        title = getattr(self.draft, "title", None)
        self.session.snapshot_written(message.result)
        if self.draft is not None and self.draft.title != title:  # named by its first line
            self._update_title()
        self.show_notices()

    def save_now(self, reason: str | None = None) -> bool:
        """Save the editor's text now: the store first, then the external file if any.

        False (and a notification) when the store could not take it; a file that could not be
        written is reported by the status bar and `file_in_step`, its text being safe.
        """
        had_draft = self.draft is not None
        cursor, scroll = self.screen.editor.position
        saved = self.session.save(self.screen.editor.text, cursor, reason, scroll)
        if not had_draft and self.draft is not None:
            self._update_title()
        self.show_notices()
        return saved

    def update_save_state(self) -> None:
        self.screen.save_state = self.session.state

    @property
    def file_in_step(self) -> bool:
        return self.session.file_in_step

    def save_manually(self) -> None:
        """ctrl+s: save now (and resolve a changed-on-disk conflict)."""
        if self.session.conflict and self.external is not None:
            self.save_now(reason="manual")  # the store has it, whatever the file does
            self.files.resolve_conflict()
            return
        if not self.save_now(reason="manual"):
            return
        if self.file_in_step:
            self.app.notify("Saved.", timeout=2)
        else:
            self.app.notify(
                f"Saved in writer's drafts; {self.file.name} could not be written: "
                f"{self.session.file_error}",
                severity="warning",
            )

    # -- generation log -------------------------------------------------------------------------
    def log_generation(self, request: int, mode: str, params: SamplingParams, done: Any) -> None:
        """Record a finished request's candidates in the generation log (alternatives, branches,
        acceptance statistics)."""
        if self.store is None or self.draft is None or self.read_only:
            return
        try:
            generation_id = self.store.generations.log(
                self.draft.id,
                mode,
                params.to_dict(),
                done.seed,
                self.app.model.name,
                done.candidates,
                prompt_tail=(done.prompt_text or "")[-200:] or None,
                prompt=done.prompt_text or None,
            )
        except WriterError as exc:
            self.app.notify(f"Generation log not saved: {exc}", severity="warning")
            return
        self._generation_ids[request] = generation_id
        if request in self._pending_insert:
            # The text was already saved with an "insert" revision when it was inserted.
            self.record_insert(generation_id, self._pending_insert.pop(request), with_text=False)

    def mark_inserted(self, request: int, index: int) -> None:
        """Note the insertion in the log and save the text as an "insert" revision."""
        generation_id = self._generation_ids.get(request)
        if generation_id is None:
            self._pending_insert[request] = index  # logged when the request finishes
            self.save_now(reason="insert")
        else:
            self.record_insert(generation_id, index)

    def record_insert(self, generation_id: int, index: int, with_text: bool = True) -> None:
        if self.store is None or self.read_only:
            return
        try:
            text = self.screen.editor.text if with_text else None
            with self.session.writing():
                self.store.generations.mark_inserted(generation_id, index, text=text)
        except WriterError as exc:
            rescued = self.session.rescue_text(self.screen.editor.text)
            self.session.store_failed(error_line(exc), rescued)
            self.show_notices()
            return
        if self.draft is not None:
            app = self.app
            if self.learn_hint is None:
                notify = lambda text: app.notify(text, title="Learn", timeout=20)  # noqa: E731
                self.learn_hint = LearnHint(app.config.learn_after, notify)
            passed_over = self.screen.candidate_count - 1
            self.learn_hint.inserted(self.store, self.draft.id, app.model.name, passed_over)
        if with_text:
            self.session.dirty = False
            if self.external is not None:
                self.files.write_file(text)
            self.update_save_state()

    def close_store(self) -> None:
        """Release the draft and close the database (the app is going away)."""
        self.release_draft()
        with self.session.lock:  # after an autosave still being written
            self._close_store()

    def _close_store(self) -> None:
        if self.store is not None:
            try:
                self.store.close()
            except (WriterError, OSError):
                pass
            self.store = None

    # -- quitting -------------------------------------------------------------------------------
    def quit(self) -> None:
        """ctrl+q: save, then quit; if the text is not safe everywhere it belongs, ask first."""
        self.screen.generation.cancel()
        self.guard.check_store_file()
        saved = self.save_now(reason="quit" if self.session.dirty else None)
        self.session.remember_position(*self.screen.editor.position)
        if saved and self.file_in_step:
            forget_if_untouched(self.store, self.draft, self.screen.editor.text, self.read_only)
            self.release_draft()
            self.app.exit()
            return
        from writer.ui.screens.confirm import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == "quit":
                self.release_draft()
                self.app.exit()

        if not saved:
            copy = self.session.rescue_text(self.screen.editor.text, now=True)
            question = f"Your latest text is not saved ({self.session.save_error})."
            quit_label = "Quit and lose unsaved text"
            if copy is not None:
                question += f" A copy of it is safe in {copy}."
                quit_label = "Quit (the copy keeps the text)"
        else:
            why = "it changed on disk" if self.session.conflict else self.session.file_error
            question = (
                f"{self.file.name} does not have your latest text ({why}). The text is safe in "
                "writer's drafts; opening the file again offers it."
            )
            quit_label = "Quit without writing the file"
        self.app.push_screen(
            ChoiceScreen(question, [("stay", "Keep editing"), ("quit", quit_label)]), chosen
        )
