"""Keeping an external file (`writer story.md`) and its draft in the store in step.

A mixin of `WriterApp`, beside `SavingMixin`: opening a file and settling differences with the
user; the writes themselves are DraftSession's. The drafts store always gets the text first (it
is what survives kill -9); the file is written after it. When the file cannot take the text (changed
on disk by someone else, read-only, a missing folder) the text stays safe in the store, the status
bar says so, and the difference is shown to the user: never resolved silently, here or on the
next open.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from writer.errors import WriterError, error_line


def sentence(message: str) -> str:
    """A lower-case error line as the start of a sentence."""
    return message[:1].upper() + message[1:] if message else message


class FileSyncMixin:
    """The external file of the open draft: opening, writing, conflicts and divergence."""

    store: Any
    draft: Any
    external: Any
    file: Path | None

    def init_file_sync(self) -> None:
        self._divergence_question = ""  # asked once the draft is shown (and claimed)

    # -- opening --------------------------------------------------------------------------------
    def _open_external(self, path: Path, draft: Any = None) -> str:
        """Open `path` for editing (with `draft`, its draft in the store, when known); returns
        the text to show. May leave a question in `_divergence_question` for `_show_draft`."""
        from writer.external import ExternalFile

        self.external, self.file = None, path
        self.session.conflict, self.session.file_error = False, ""
        self._divergence_question = ""
        if draft is None and self.store is not None:
            try:
                draft = self.store.find_by_external_path(path)
            except WriterError as exc:
                self.notify(f"History of {path.name} is not kept: {exc}", severity="warning")
        try:
            external = ExternalFile.open(path)
        except (WriterError, OSError) as exc:
            return self._open_failed(path, exc, draft)
        self.external = external
        text = external.text
        if self.store is None:  # the store's own failure is already on screen
            if not external.exists:
                self._write_file(text)  # `writer new.md` creates the file right away
            return text
        try:
            if draft is None:
                if not external.exists:
                    self._write_file(text)
                self.draft = self.store.create_draft(path.name, text, external_path=path)
                return text
            self.draft = draft
            if not self.store.acquire_lock(draft.id):
                # Open in another window: change nothing here; _claim_draft asks what to do.
                newer = (external.mtime or 0.0) < draft.updated
                return draft.text if newer and draft.text != text else text
            if not external.exists:
                # Deleted or moved away since writer last wrote it: put writer's copy back.
                if self._write_file(draft.text):
                    self.notify(
                        f"{path.name} was missing, so it was written again from writer's copy.",
                        severity="warning",
                        timeout=10,
                    )
                return draft.text
            if draft.text != text:
                return self._diverged(path, draft, text)
        except WriterError as exc:
            self.notify(f"History of {path.name} is not kept: {exc}", severity="warning")
        return text

    def _open_failed(self, path: Path, exc: BaseException, draft: Any) -> str:
        """The file cannot be read: typing still goes somewhere safe, and the user is told."""
        self.file = None
        problem = sentence(error_line(exc))
        if draft is not None:
            self.draft = draft
            self.notify(
                f"{problem}. You are editing writer's own copy of it (in the drafts library, "
                "ctrl+o); the file is not written.",
                title="Cannot open",
                severity="error",
                timeout=20,
            )
            return draft.text
        self.draft = None  # created on the first save, so an empty visit leaves nothing
        self.session.new_draft_title = path.name
        self.notify(
            f"{problem}. What you type is saved as a new draft, “{path.name}”, in the drafts "
            "library (ctrl+o); the file is not written.",
            title="Cannot open",
            severity="error",
            timeout=20,
        )
        return ""

    def _diverged(self, path: Path, draft: Any, file_text: str) -> str:
        """The file and writer's copy differ: keep both in history and show the difference."""
        if (self.external.mtime or 0.0) >= draft.updated:
            # Edited outside writer since writer last saved: the file wins, visibly.
            self.store.save_revision(draft.id, file_text, "external-save")
            self.draft = self.store.get_draft(draft.id)
            self.notify(
                f"{path.name} was changed outside writer since you last edited it here, so it is "
                "shown as it is on disk. Writer's earlier text is in history (f3).",
                title="File changed",
                severity="warning",
                timeout=20,
            )
            return file_text
        # Writer's text is newer than the file (a failed or refused write, a restore from the
        # command line). Record the file's text, keep writer's as the draft, and ask.
        self.store.save_revision(draft.id, file_text, "external-save")
        self.store.save_revision(draft.id, draft.text, "manual")
        self.draft = self.store.get_draft(draft.id)
        self.session.conflict = True
        stamp = time.strftime("%H:%M %d %b", time.localtime(draft.updated))
        self._divergence_question = (
            f"{path.name} on disk is older than your latest text in writer (from {stamp}), "
            "which is shown. Both versions are kept in history (f3)."
        )
        return draft.text

    def ask_about_divergence(self) -> None:
        """After the draft is shown: ask what to do about a file that lacks writer's text."""
        question, self._divergence_question = self._divergence_question, ""
        if question and self.session.conflict and not self.read_only:
            self._resolve_conflict(question)

    def _write_file(self, text: str) -> bool:
        """Write the external file (see DraftSession.write_file) and show what came of it."""
        written = self.session.write_file(text)
        self.show_notices()
        return written

    # -- conflicts ------------------------------------------------------------------------------
    def _resolve_conflict(self, question: str | None = None) -> None:
        from writer.ui.screens.confirm import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == "overwrite":
                self._overwrite_file()
            elif choice == "reload":
                self._reload_file()

        self.push_screen(
            ChoiceScreen(
                question or f"{self.file} changed on disk since it was opened.",
                [
                    ("overwrite", "Write my text to the file"),
                    ("reload", "Load the file"),
                    ("keep", "Later"),
                ],
            ),
            chosen,
        )

    def _overwrite_file(self) -> None:
        from writer.external import ExternalFile

        text = self.editor.text
        try:
            disk = ExternalFile.open(self.external.path).text
        except (WriterError, OSError):
            disk = None
        if disk is not None and disk != text and self.store is not None and self.draft:
            try:  # the version on disk goes into history before it is replaced
                self.store.save_revision(self.draft.id, disk, "external-save")
            except WriterError:
                pass
        try:
            self.external.save(text, force=True)
        except (WriterError, OSError) as exc:
            self.session.file_failed(error_line(exc))
            self.show_notices()
            return
        self.session.conflict = False
        self.session.file_error = ""
        self.session.dirty = True
        self.save_now(reason="external-save")
        self.notify("Saved over the file on disk.")

    def _reload_file(self) -> None:
        self.session.dirty = True
        self.save_now(reason="manual")  # keep our version in the history first
        try:
            text = self.external.reload()
        except (WriterError, OSError) as exc:
            self.notify(f"Cannot reload {self.file}: {error_line(exc)}", severity="error")
            return
        self.session.conflict = False
        self.session.file_error = ""
        editor = self.editor
        editor.history.checkpoint()
        editor.replace(text, (0, 0), editor.document.end, maintain_selection_offset=False)
        self.session.dirty = True
        self.save_now(reason="external-save")
