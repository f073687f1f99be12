"""Keeping the author's text safe, the Textual side: opening drafts, the autosave timer, quit.

A mixin of `WriterApp` that drives a `DraftSession` (session.py, plain Python: dirty state,
autosave timing, store-then-file saves, failures and retries) and shows what it reports. Autosave
runs on the UI thread (a SQLite write of one text takes a few milliseconds) from a timer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from writer.errors import WriterError, error_line
from writer.ui.session import DraftSession


class SavingMixin:
    """The open draft (a store draft, possibly shadowing an external file) and its saving."""

    session: DraftSession

    def init_saving(self) -> None:
        def open_store() -> Any:
            from writer.store import DraftStore

            store = DraftStore.open(self.store_path, config=self.config)
            self.remember_store_file(store)
            return store

        self.session = DraftSession(open_store, autosave_interval=self.autosave_interval)
        self._generation_ids: dict[int, int] = {}
        self._pending_insert: dict[int, int] = {}
        self._loading_text = False
        self._words_stale = False  # the editor changed since the status bar's word count
        self._exiting = False
        self.init_file_sync()
        self.init_store_guard()

    # The open draft's parts live on the session; these keep the app's (and screens') names.
    store = property(
        lambda self: self.session.store, lambda self, v: setattr(self.session, "store", v)
    )
    draft = property(
        lambda self: self.session.draft, lambda self, v: setattr(self.session, "draft", v)
    )
    external = property(
        lambda self: self.session.external, lambda self, v: setattr(self.session, "external", v)
    )
    file = property(
        lambda self: self.session.file, lambda self, v: setattr(self.session, "file", v)
    )
    read_only = property(
        lambda self: self.session.read_only, lambda self, v: setattr(self.session, "read_only", v)
    )

    def show_notices(self) -> None:
        """Show what the session has to say, and its state in the status bar."""
        for notice in self.session.take_notices():
            self.notify(
                notice.message, title=notice.title, severity=notice.severity, timeout=notice.timeout
            )
        self.writing.save_state = self.session.state

    # -- opening --------------------------------------------------------------------------------
    def open_session(self) -> None:
        """Open the store, then the file given on the command line or the last draft."""
        from writer.store import DraftStore

        try:
            self.store = DraftStore.open(self.store_path, config=self.config)
        except WriterError as exc:
            self.store = None
            self.session.save_error = str(exc)
            self.notify(
                f"Drafts cannot be saved: {exc}. Your text stays here; saving is retried.",
                title="Drafts",
                severity="error",
                timeout=15,
            )
        self.remember_store_file()
        if self.store is not None and self.store.recovery_message:
            self.notify(self.store.recovery_message, title="Drafts", severity="warning", timeout=20)
        text = ""
        if self.file is not None:
            text = self._open_external(self.file)
        elif self.store is not None:
            self.draft = self.store.last_draft() or self.store.create_draft()
            text = self.draft.text
        self._show_draft(text)

    def _show_draft(self, text: str) -> None:
        """Put the draft's text and settings into the editor and status bar."""
        self._loading_text = True
        self.editor.load_text(text)
        draft = self.draft
        if draft is not None:
            self.editor.restore_position(draft.cursor, draft.scroll)
            preset = self.requested_preset or draft.preset or self.config.preset
            overrides = draft.overrides if draft.preset == preset else {}
        else:
            self.editor.restore_position(None, None)
            preset, overrides = self.requested_preset or self.config.preset, {}
        if preset not in self.presets:
            self.notify(f"Unknown preset {preset!r}; using balanced.", severity="warning")
            preset, overrides = "balanced", {}
        self.preset_name, self.overrides = preset, dict(overrides or {})
        self.requested_preset = None  # --preset applies to the first draft only
        self.writing.preset_shown = self.preset_label()
        self.session.loaded()
        self.session.opened_at(*self.editor.position)
        self._update_title()
        self._claim_draft()
        self.update_save_state()
        self.ask_about_divergence()

    def _update_title(self) -> None:
        if self.external is not None:
            self.status.title = str(self.file.name if self.file else "")
        elif self.draft is not None:
            self.status.title = self.draft.display_title
        else:
            self.status.title = self.session.new_draft_title
        self.status.words = self.editor.word_count()
        self._words_stale = False
        self.status.goal = getattr(self.draft, "word_goal", None)
        self.sub_title = self.status.title

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

    def _claim_draft(self) -> None:
        """Two instances: the second one is told and chooses read-only or a copy of its own."""
        if self.store is None or self.draft is None:
            return
        try:
            claimed = self.store.acquire_lock(self.draft.id)
        except (WriterError, OSError):
            claimed = True  # locking is a courtesy; never block editing on it
        if claimed:
            self.read_only = False
            self.editor.read_only = False
            return
        from writer.ui.screens.confirm import ChoiceScreen

        owner = self.store.lock_owner(self.draft.id)
        who = f" (process {owner})" if owner else ""

        def chosen(choice: str | None) -> None:
            if choice == "copy":
                self._edit_a_copy()
            self.update_save_state()

        self.read_only = True
        self.editor.read_only = True
        self.push_screen(
            ChoiceScreen(
                f"“{self.status.title}” is open in another writer{who}. Editing it here too "
                "would overwrite one window's text with the other's.",
                [("readonly", "Open read-only"), ("copy", "Edit a copy")],
            ),
            chosen,
        )

    def _edit_a_copy(self) -> None:
        """Fork the draft that another window holds: both texts survive, each in its draft."""
        original = self.draft
        title = f"{self.status.title or original.display_title} (copy)"
        try:
            self.draft = self.store.create_draft(
                title,
                self.editor.text,
                preset=original.preset,
                overrides=original.overrides,
                model=original.model,
            )
            self.store.acquire_lock(self.draft.id)
        except WriterError as exc:
            self.draft = original
            self.notify(f"Cannot make a copy: {exc}. The draft stays read-only.", severity="error")
            return
        not_file = f" This window does not write {self.file.name}." if self.external else ""
        self.external, self.file = None, None
        self.session.conflict, self.session.file_error, self._divergence_question = False, "", ""
        self.read_only = False
        self.editor.read_only = False
        self._update_title()
        self.notify(
            f"You are editing a copy, “{title}”; the original stays with the other window. "
            f"Both are in the drafts library (ctrl+o).{not_file}",
            title="A copy",
            timeout=15,
        )

    def switch_draft(self, draft_id: int | None) -> None:
        """Save this draft, then open draft `draft_id` (None: a new one); a draft that belongs
        to a file opens that file, whichever way it was reached."""
        if not self.save_now():
            self.notify("Not switching: this draft could not be saved.", severity="error")
            return
        self.session.remember_position(*self.editor.position)
        self._release_draft()
        try:
            if draft_id is None:
                draft = self.store.create_draft()
            else:
                draft = self.store.get_draft(draft_id)
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return
        self.external, self.file, self.draft = None, None, draft
        self.session.conflict, self.session.file_error, self._divergence_question = False, "", ""
        self.session.new_draft_title = ""
        text = draft.text
        if draft.external_path:
            text = self._open_external(Path(draft.external_path), draft)
        self._show_draft(text)

    def _release_draft(self) -> None:
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
                self.draft.id, preset=self.preset_name, overrides=self.overrides, model=None
            )
            if self.model_name and self.model_name != (self.requested_model or self.config.model):
                self.store.set_draft_settings(self.draft.id, model=self.model_name)
        except WriterError as exc:
            self.notify(f"Settings not saved: {exc}", severity="warning")

    def set_word_goal(self, goal: int | None) -> None:
        """This draft's word goal (None removes it): shown in the status bar, kept per draft."""
        self.status.goal = goal
        if self.store is None or self.draft is None or self.read_only:
            self.notify("The goal is shown but not kept: the draft cannot be saved now.")
            return
        try:
            self.store.set_word_goal(self.draft.id, goal)
            self.draft.word_goal = goal
        except WriterError as exc:
            self.notify(f"Word goal not saved: {exc}", severity="warning")
            return
        self.notify(f"Word goal: {goal} words." if goal else "Word goal removed.", timeout=3)

    # -- autosave -------------------------------------------------------------------------------
    def start_autosave(self) -> None:
        self.set_interval(self.autosave_interval / 2, self._autosave_tick, name="autosave")

    def text_changed(self) -> None:
        """Called on every edit of the editor: nothing here may cost time in the length of
        the story (the word count is the autosave timer's, a few times a second)."""
        self._words_stale = True
        if self._loading_text:
            self._loading_text = False
            return
        self.session.edited()
        self.writing.save_state = self.session.state  # "unsaved" unless something worse

    def _autosave_tick(self) -> None:
        from textual.css.query import NoMatches

        try:
            editor, status = self.editor, self.status
        except NoMatches:
            return  # the app is exiting: its widgets are already gone
        if self._words_stale:
            self._words_stale = False
            status.words = editor.word_count()
        if self.read_only or self._exiting:
            return
        self.check_store_file()
        if self.session.autosave_due():
            self.save_now()
        elif not self.session.dirty and self.session.position_due(*editor.position):
            self.session.remember_position(*editor.position)
        elif self.session.file_retry_due():
            self.session.write_file(self.editor.text)
            self.show_notices()

    def save_now(self, reason: str | None = None) -> bool:
        """Save the editor's text now: the store first, then the external file if any.

        False (and a notification) when the store could not take it; a file that could not be
        written is reported by the status bar and `file_in_step`, its text being safe.
        """
        had_draft = self.draft is not None
        cursor, scroll = self.editor.position
        saved = self.session.save(self.editor.text, cursor, reason, scroll)
        if not had_draft and self.draft is not None:
            self._update_title()
        self.show_notices()
        return saved

    def update_save_state(self) -> None:
        self.writing.save_state = self.session.state

    @property
    def file_in_step(self) -> bool:
        return self.session.file_in_step

    def action_save(self) -> None:
        """ctrl+s: save now (and resolve a changed-on-disk conflict)."""
        if self.session.conflict and self.external is not None:
            self.save_now(reason="manual")  # the store has it, whatever the file does
            self._resolve_conflict()
            return
        if not self.save_now(reason="manual"):
            return
        if self.file_in_step:
            self.notify("Saved.", timeout=2)
        else:
            self.notify(
                f"Saved in writer's drafts; {self.file.name} could not be written: "
                f"{self.session.file_error}",
                severity="warning",
            )

    # -- generation log -------------------------------------------------------------------------
    def log_generation(self, request: int, info: dict[str, Any], done: Any) -> None:
        if self.store is None or self.draft is None or self.read_only:
            return
        try:
            generation_id = self.store.log_generation(
                self.draft.id,
                info["mode"],
                info["params"].to_dict(),
                done.seed,
                self.model_name,
                done.candidates,
                prompt_tail=(done.prompt_text or "")[-200:] or None,
            )
        except WriterError as exc:
            self.notify(f"Generation log not saved: {exc}", severity="warning")
            return
        self._generation_ids[request] = generation_id
        if request in self._pending_insert:
            # The text was already saved with an "insert" revision when it was inserted.
            self._record_insert(generation_id, self._pending_insert.pop(request), with_text=False)

    def mark_inserted(self, request: int, index: int) -> None:
        """Note the insertion in the log and save the text as an "insert" revision."""
        generation_id = self._generation_ids.get(request)
        if generation_id is None:
            self._pending_insert[request] = index  # logged when the request finishes
            self.save_now(reason="insert")
        else:
            self._record_insert(generation_id, index)

    def _record_insert(self, generation_id: int, index: int, with_text: bool = True) -> None:
        if self.store is None or self.read_only:
            return
        try:
            text = self.editor.text if with_text else None
            self.store.mark_inserted(generation_id, index, text=text)
        except WriterError as exc:
            self.session.store_failed(error_line(exc))
            self.show_notices()
            return
        if with_text:
            self.session.dirty = False
            if self.external is not None:
                self._write_file(text)
            self.update_save_state()

    def close_store(self) -> None:
        """Release the draft and close the database (the app is going away)."""
        self._release_draft()
        if self.store is not None:
            try:
                self.store.close()
            except (WriterError, OSError):
                pass
            self.store = None

    # -- quitting -------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """ctrl+q: save, then quit; if the text is not safe everywhere it belongs, ask first."""
        self.cancel_generation()
        self.check_store_file()
        saved = self.save_now(reason="quit" if self.session.dirty else None)
        self.session.remember_position(*self.editor.position)
        if saved and self.file_in_step:
            self._release_draft()
            self.exit()
            return
        from writer.ui.screens.confirm import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == "quit":
                self._release_draft()
                self.exit()

        if not saved:
            question = f"Your latest text is not saved ({self.session.save_error})."
            quit_label = "Quit and lose unsaved text"
        else:
            why = "it changed on disk" if self.session.conflict else self.session.file_error
            question = (
                f"{self.file.name} does not have your latest text ({why}). The text is safe in "
                "writer's drafts; opening the file again offers it."
            )
            quit_label = "Quit without writing the file"
        self.push_screen(
            ChoiceScreen(question, [("stay", "Keep editing"), ("quit", quit_label)]), chosen
        )
