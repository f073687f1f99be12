"""Keeping the author's text safe: the draft or file that is open, autosave, retry, quit.

A mixin of `WriterApp`. Autosave runs on the UI thread (a SQLite write of one text takes a few
milliseconds) from a timer: it saves once typing pauses for `autosave_interval`, and at the latest
1.5 s after the first unsaved keystroke, so a kill -9 loses under 2 s of typing. A failed save
(disk full, read-only data dir) keeps the text in the editor, says why once, and retries.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from writer.errors import WriterError
from writer.ui.generation import one_line

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
        self._external_conflict = False
        self._generation_ids: dict[int, int] = {}
        self._pending_insert: dict[int, int] = {}
        self._loading_text = False

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
        if self.store is not None and self.store.recovery_message:
            self.notify(self.store.recovery_message, title="Drafts", severity="warning", timeout=20)
        text = ""
        if self.file is not None:
            text = self._open_external(self.file)
        elif self.store is not None:
            self.draft = self.store.last_draft() or self.store.create_draft()
            text = self.draft.text
        self._show_draft(text)

    def _open_external(self, path: Path) -> str:
        from writer.external import ExternalFile

        try:
            self.external = ExternalFile.open(path)
        except (WriterError, OSError) as exc:
            self.external = None
            self.notify(f"Cannot open {path}: {one_line(exc)}", severity="error", timeout=15)
            self.read_only = True
            return ""
        text = self.external.text
        if not self.external.exists:
            try:
                self.external.save(text)  # `writer new.md` creates the file right away
            except (WriterError, OSError) as exc:
                self.notify(f"Cannot create {path}: {one_line(exc)}", severity="error")
        if self.store is not None:
            try:
                self.draft = self.store.find_by_external_path(path)
                if self.draft is None:
                    self.draft = self.store.create_draft(path.name, text, external_path=path)
                elif self.draft.text != text:
                    # Edited elsewhere since last time: keep that version in the history too.
                    self.store.save_revision(self.draft.id, text, "external-save")
                    self.draft = self.store.get_draft(self.draft.id)
            except WriterError as exc:
                self.notify(f"History of {path.name} is not kept: {exc}", severity="warning")
        return text

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
        self.status.preset = self.preset_label()
        self._dirty = False
        self.status.save_state = "saved"
        self._update_title()
        self._claim_draft()

    def _update_title(self) -> None:
        if self.external is not None:
            self.status.title = str(self.file.name if self.file else "")
        elif self.draft is not None:
            self.status.title = self.draft.display_title
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
        """Two instances: the second one is told and chooses read-only or editing anyway."""
        if self.store is None or self.draft is None:
            return
        try:
            claimed = self.store.acquire_lock(self.draft.id)
        except (WriterError, OSError):
            return  # locking is a courtesy; never block editing on it
        if claimed:
            self.read_only = False
            self.editor.read_only = False
            return
        from writer.ui.screens.confirm import ChoiceScreen

        owner = self.store.lock_owner(self.draft.id)
        who = f" (process {owner})" if owner else ""

        def chosen(choice: str | None) -> None:
            self.read_only = choice != "edit"
            self.editor.read_only = self.read_only
            self.status.save_state = "read-only" if self.read_only else "saved"

        self.read_only = True
        self.editor.read_only = True
        self.status.save_state = "read-only"
        self.push_screen(
            ChoiceScreen(
                f"“{self.status.title}” is open in another writer{who}.",
                [("readonly", "Open read-only"), ("edit", "Edit anyway")],
            ),
            chosen,
        )

    def switch_draft(self, draft_id: int | None) -> None:
        """Save this draft, then open draft `draft_id` (None: a new one)."""
        if not self.save_now():
            self.notify("Not switching: this draft could not be saved.", severity="error")
            return
        self._release_draft()
        try:
            if draft_id is None:
                self.draft = self.store.create_draft()
            else:
                self.draft = self.store.get_draft(draft_id)
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return
        self.external, self.file, self._external_conflict = None, None, False
        self._show_draft(self.draft.text)

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
        if self.status.save_state == "saved":
            self.status.save_state = "unsaved"

    def _autosave_tick(self) -> None:
        if not self._dirty or self.read_only:
            return
        now = time.monotonic()
        if now < self._retry_at:
            return
        idle = now - self._last_change >= self.autosave_interval
        if idle or now - self._dirty_since >= MAX_UNSAVED_S:
            self.save_now()

    def save_now(self, reason: str | None = None) -> bool:
        """Save the editor's text now; False (and a notification) if it could not be saved."""
        if self.read_only:
            return True
        if not self._dirty and reason is None:
            return True
        text = self.editor.text
        try:
            if self.store is None:
                from writer.store import DraftStore

                self.store = DraftStore.open(self.store_path, config=self.config)
                if self.draft is None:
                    self.draft = self.store.create_draft(text=text)
            if self.external is not None:
                self._save_external(text)
            if reason is not None:
                self.store.save_revision(self.draft.id, text, reason)
            else:
                self.store.save_text(self.draft.id, text, self.editor.cursor_location)
        except (WriterError, OSError) as exc:
            self._save_failed(one_line(exc))
            return False
        self._dirty = False
        if self._save_error:
            self._save_error = ""
            self.notify("Saved again: your text is safe.", title="Saved")
        self.status.save_state = "file changed on disk" if self._external_conflict else "saved"
        return not self._external_conflict

    def _save_external(self, text: str) -> None:
        """Write the external file atomically, unless someone changed it since we read it."""
        if not self._external_conflict and self.external.changed_on_disk():
            self._external_conflict = True
            self.notify(
                f"{self.file} changed on disk since it was opened, so it was not overwritten. "
                "Your text is kept in the drafts store; press ctrl+s to choose what to do.",
                title="File changed",
                severity="warning",
                timeout=15,
            )
        if not self._external_conflict:
            self.external.save(text)

    def _save_failed(self, reason: str) -> None:
        first = not self._save_error
        self._save_error = reason
        self._retry_at = time.monotonic() + RETRY_S
        self.status.save_state = "save failed"
        if first:
            self.notify(
                f"Could not save: {reason}. Your text stays here; retrying every {RETRY_S:g} s.",
                title="Not saved",
                severity="error",
                timeout=15,
            )

    def action_save(self) -> None:
        """ctrl+s: save now (and resolve a changed-on-disk conflict)."""
        if self._external_conflict:
            self._resolve_conflict()
            return
        if self.save_now(reason="manual"):
            self.notify("Saved.", timeout=2)

    def _resolve_conflict(self) -> None:
        from writer.ui.screens.confirm import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == "overwrite":
                try:
                    self.external.save(self.editor.text, force=True)
                except (WriterError, OSError) as exc:
                    self._save_failed(one_line(exc))
                    return
                self._external_conflict = False
                self._dirty = True
                self.save_now(reason="external-save")
                self.notify("Saved over the file on disk.")
            elif choice == "reload":
                self._dirty = True
                self.save_now(reason="manual")  # keep our version in the history first
                try:
                    text = self.external.reload()
                except (WriterError, OSError) as exc:
                    self.notify(f"Cannot reload {self.file}: {one_line(exc)}", severity="error")
                    return
                self._external_conflict = False
                editor = self.editor
                editor.history.checkpoint()
                editor.replace(text, (0, 0), editor.document.end, maintain_selection_offset=False)
                self._dirty = True
                self.save_now(reason="external-save")

        self.push_screen(
            ChoiceScreen(
                f"{self.file} changed on disk since it was opened.",
                [
                    ("overwrite", "Overwrite it with my text"),
                    ("reload", "Load the file from disk"),
                    ("keep", "Keep editing"),
                ],
            ),
            chosen,
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
            self._save_failed(one_line(exc))
            return
        if with_text:
            self._dirty = False
            self.status.save_state = "saved"

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
        """ctrl+q: save, then quit; if the text cannot be saved, ask first."""
        self.cancel_generation()
        if self.save_now(reason="quit" if self._dirty else None):
            self._release_draft()
            self.exit()
            return
        from writer.ui.screens.confirm import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == "quit":
                self._release_draft()
                self.exit()

        reason = "the file changed on disk" if self._external_conflict else self._save_error
        self.push_screen(
            ChoiceScreen(
                f"Your latest text is not saved ({reason}).",
                [("stay", "Keep editing"), ("quit", "Quit and lose unsaved text")],
            ),
            chosen,
        )
