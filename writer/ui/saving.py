"""Keeping the author's text safe: the draft or file that is open, autosave, retry, quit.

A mixin of `WriterApp`. Autosave runs on the UI thread (a SQLite write of one text takes a few
milliseconds) from a timer: it saves once typing pauses for `autosave_interval`, and at the latest
1.5 s after the first unsaved keystroke, so a kill -9 loses under 2 s of typing. A failed save
(disk full, read-only data dir) keeps the text in the editor, says why once, and retries.
The store is written first, always; an external file after it (see `filesync.py`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from writer.errors import WriterError, error_line
from writer.ui.widgets.status import SaveState

MAX_UNSAVED_S = 1.5  # save at the latest this long after the first unsaved change
RETRY_S = 5.0  # after a failed save, try again this often


class SavingMixin:
    """The open draft (a store draft, possibly shadowing an external file) and its saving."""

    def init_saving(self) -> None:
        self.store: Any = None
        self.draft: Any = None
        self.external: Any = None
        self.read_only = False
        self._dirty = False
        self._dirty_since = 0.0
        self._last_change = 0.0
        self._save_error = ""
        self._retry_at = 0.0
        self._generation_ids: dict[int, int] = {}
        self._pending_insert: dict[int, int] = {}
        self._loading_text = False
        self._exiting = False
        self.init_file_sync()
        self.init_store_guard()

    # -- opening --------------------------------------------------------------------------------
    def open_session(self) -> None:
        """Open the store, then the file given on the command line or the last draft."""
        from writer.store import DraftStore

        try:
            self.store = DraftStore.open(self.store_path, config=self.config)
        except WriterError as exc:
            self.store = None
            self._save_error = str(exc)
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
            row, column = draft.cursor or (0, 0)
            self.editor.cursor_location = (row, column)
            preset = self.requested_preset or draft.preset or self.config.preset
            overrides = draft.overrides if draft.preset == preset else {}
        else:
            preset, overrides = self.requested_preset or self.config.preset, {}
        if preset not in self.presets:
            self.notify(f"Unknown preset {preset!r}; using balanced.", severity="warning")
            preset, overrides = "balanced", {}
        self.preset_name, self.overrides = preset, dict(overrides or {})
        self.requested_preset = None  # --preset applies to the first draft only
        self.preset_shown = self.preset_label()
        self._dirty = False
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
            self.status.title = self._new_draft_title
        self.status.words = len(self.editor.text.split())
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
        self._external_conflict, self._file_error, self._divergence_question = False, "", ""
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
        self._external_conflict, self._file_error, self._divergence_question = False, "", ""
        self._new_draft_title = ""
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

    # -- autosave -------------------------------------------------------------------------------
    def start_autosave(self) -> None:
        self.set_interval(self.autosave_interval / 2, self._autosave_tick, name="autosave")

    def text_changed(self) -> None:
        """Called on every edit of the editor."""
        self.status.words = len(self.editor.text.split())
        if self._loading_text:
            self._loading_text = False
            return
        now = time.monotonic()
        if not self._dirty:
            self._dirty_since = now
        self._dirty = True
        self._last_change = now
        if self.save_state == "saved":
            self.save_state = "unsaved"

    def _autosave_tick(self) -> None:
        if self.read_only or self._exiting:
            return
        self.check_store_file()
        if not self._dirty:
            self.retry_file()
            return
        now = time.monotonic()
        if now < self._retry_at:
            return
        idle = now - self._last_change >= self.autosave_interval
        if idle or now - self._dirty_since >= MAX_UNSAVED_S:
            self.save_now()

    def save_now(self, reason: str | None = None) -> bool:
        """Save the editor's text now: the store first, then the external file if any.

        False (and a notification) when the store could not take it; a file that could not be
        written is reported by the status bar and `file_in_step`, its text being safe.
        """
        if self.read_only:
            return True
        if not self._dirty and reason is None:
            return True
        text = self.editor.text
        try:
            if self.store is None:
                from writer.store import DraftStore

                self.store = DraftStore.open(self.store_path, config=self.config)
                self.remember_store_file()
            if self.draft is None:
                self._create_draft_for(text)
            if reason is not None:
                self.store.save_revision(self.draft.id, text, reason)
            else:
                self.store.save_text(self.draft.id, text, self.editor.cursor_location)
        except (WriterError, OSError) as exc:
            self._save_failed(error_line(exc))
            return False
        self._dirty = False
        if self._save_error:
            self._save_error = ""
            self.notify("Saved again: your text is safe.", title="Saved")
        if self.external is not None:
            self._write_file(text)
        self.update_save_state()
        return True

    def _create_draft_for(self, text: str) -> None:
        """The first save of text that has no draft yet (the store or the file was unusable)."""
        title = self._new_draft_title
        if self.external is not None:  # the store was unusable when the file was opened
            title = ""
            self.draft = self.store.create_draft(
                self.external.path.name, text, external_path=self.external.path
            )
        else:
            self.draft = self.store.create_draft(title, text)
        self.store.acquire_lock(self.draft.id)
        self._update_title()
        if title:
            self.notify(
                f"Your text is saved as a new draft, “{self.draft.display_title}” (ctrl+o).",
                title="Saved",
                timeout=10,
            )

    def update_save_state(self) -> None:
        """The status bar's save state, from the most serious condition down."""
        state: SaveState = "saved"
        if self.read_only:
            state = "read-only"
        elif self._save_error:
            state = "save failed"
        elif self._dirty:
            state = "unsaved"
        elif self.external is not None and self._external_conflict:
            state = "file changed on disk"
        elif self.external is not None and self._file_error:
            state = "file not saved"
        self.save_state = state

    def _save_failed(self, reason: str) -> None:
        first = not self._save_error
        self._save_error = reason
        self._retry_at = time.monotonic() + RETRY_S
        self.save_state = "save failed"
        if first:
            self.notify(
                f"Could not save: {reason}. Your text stays here; retrying every {RETRY_S:g} s.",
                title="Not saved",
                severity="error",
                timeout=15,
            )

    def action_save(self) -> None:
        """ctrl+s: save now (and resolve a changed-on-disk conflict)."""
        if self._external_conflict and self.external is not None:
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
                f"{self._file_error}",
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
            self._save_failed(error_line(exc))
            return
        if with_text:
            self._dirty = False
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
        saved = self.save_now(reason="quit" if self._dirty else None)
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
            question = f"Your latest text is not saved ({self._save_error})."
            quit_label = "Quit and lose unsaved text"
        else:
            why = "it changed on disk" if self._external_conflict else self._file_error
            question = (
                f"{self.file.name} does not have your latest text ({why}). The text is safe in "
                "writer's drafts; opening the file again offers it."
            )
            quit_label = "Quit without writing the file"
        self.push_screen(
            ChoiceScreen(question, [("stay", "Keep editing"), ("quit", quit_label)]), chosen
        )
