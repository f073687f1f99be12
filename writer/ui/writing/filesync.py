"""Keeping an external file (`writer story.md`) and its draft in the store in step.

`FileSync` is owned by the open draft (saving.py `OpenDraft`) and owns the question to ask
once a diverged file is shown: it opens a file and settles differences with the user; the
writes themselves are DraftSession's. The drafts store always gets the text first (it
is what survives kill -9); the file is written after it. When the file cannot take the text (changed
on disk by someone else, read-only, a missing folder) the text stays safe in the store, the status
bar says so, and the difference is shown to the user: never resolved silently, here or on the
next open.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from writer.errors import WriterError, error_line
from writer.ui.keys import key_for

if TYPE_CHECKING:
    from writer.ui.writing.ports import OpenDraftPort


def sentence(message: str) -> str:
    """A lower-case error line as the start of a sentence."""
    return message[:1].upper() + message[1:] if message else message


class FileSync:
    """The external file of the open draft: opening, writing, conflicts and divergence."""

    def __init__(self, drafts: OpenDraftPort) -> None:
        self.drafts = drafts
        self.divergence_question = ""  # asked once the draft is shown (and claimed)

    def _key(self, action: str) -> str:
        """The writing screen's key for `action`, for a notification (read from its bindings)."""
        return key_for(type(self.drafts.screen), action)

    # -- opening --------------------------------------------------------------------------------
    def open_last_edited(self) -> str:
        """`writer` with no file: the draft or file edited last (a file that is gone gives way
        to the last draft of the library's own); returns the text to show. With none, a new
        draft (left out of the library on quit if nothing was written, see untouched.py)."""
        store = self.drafts.store
        latest = store.last_draft(with_files=True)
        if latest is not None and latest.external_path:
            path = Path(latest.external_path)
            if path.is_file():
                return self.open_external(path, latest)
            latest = store.last_draft()
        self.drafts.draft = latest or store.create_draft()
        return self.drafts.draft.text

    def open_external(self, path: Path, draft: Any = None) -> str:
        """Open `path` for editing (with `draft`, its draft in the store, when known); returns
        the text to show. May leave a question in `_divergence_question` for OpenDraft."""
        from writer.external import ExternalFile

        self.drafts.external, self.drafts.file = None, path
        self.drafts.session.conflict, self.drafts.session.file_error = False, ""
        self.divergence_question = ""
        if draft is None and self.drafts.store is not None:
            try:
                draft = self.drafts.store.find_by_external_path(path)
            except WriterError as exc:
                self.drafts.app.notify(
                    f"History of {path.name} is not kept: {exc}", severity="warning"
                )
        try:
            external = ExternalFile.open(path)
        except (WriterError, OSError) as exc:
            return self._open_failed(path, exc, draft)
        self.drafts.external = external
        text = external.text
        if self.drafts.store is None:  # the store's own failure is already on screen
            if not external.exists:
                self.write_file(text)  # `writer new.md` creates the file right away
            return text
        try:
            if draft is None:
                if not external.exists:
                    self.write_file(text)
                self.drafts.draft = self.drafts.store.create_draft(
                    path.name, text, external_path=path
                )
                return text
            self.drafts.draft = draft
            if not self.drafts.store.acquire_lock(draft.id):
                # Open in another window: change nothing here; OpenDraft asks what to do.
                newer = (external.mtime or 0.0) < draft.updated
                return draft.text if newer and draft.text != text else text
            if not external.exists:
                # Deleted or moved away since writer last wrote it: put writer's copy back.
                if self.write_file(draft.text):
                    self.drafts.app.notify(
                        f"{path.name} was missing, so it was written again from writer's copy.",
                        severity="warning",
                        timeout=10,
                    )
                return draft.text
            if draft.text != text:
                return self._diverged(path, draft, text)
        except WriterError as exc:
            self.drafts.app.notify(f"History of {path.name} is not kept: {exc}", severity="warning")
        return text

    def _open_failed(self, path: Path, exc: BaseException, draft: Any) -> str:
        """The file cannot be read: typing still goes somewhere safe, and the user is told."""
        self.drafts.file = None
        problem = sentence(error_line(exc))
        if draft is not None:
            self.drafts.draft = draft
            self.drafts.app.notify(
                f"{problem}. You are editing writer's own copy of it (in the drafts library, "
                f"{self._key('drafts')}); the file is not written.",
                title="Cannot open",
                severity="error",
                timeout=20,
            )
            return draft.text
        self.drafts.draft = None  # created on the first save, so an empty visit leaves nothing
        self.drafts.session.new_draft_title = path.name
        self.drafts.app.notify(
            f"{problem}. What you type is saved as a new draft, “{path.name}”, in the drafts "
            f"library ({self._key('drafts')}); the file is not written.",
            title="Cannot open",
            severity="error",
            timeout=20,
        )
        return ""

    def _diverged(self, path: Path, draft: Any, file_text: str) -> str:
        """The file and writer's copy differ: keep both in history and show the difference."""
        if (self.drafts.external.mtime or 0.0) >= draft.updated:
            # Edited outside writer since writer last saved: the file wins, visibly.
            self.drafts.store.save_revision(draft.id, file_text, "external-save")
            self.drafts.draft = self.drafts.store.get_draft(draft.id)
            self.drafts.app.notify(
                f"{path.name} was changed outside writer since you last edited it here, so it is "
                "shown as it is on disk. Writer's earlier text is in history "
                f"({self._key('history')}).",
                title="File changed",
                severity="warning",
                timeout=20,
            )
            return file_text
        # Writer's text is newer than the file (a failed or refused write, a restore from the
        # command line). Record the file's text, keep writer's as the draft, and ask.
        self.drafts.store.save_revision(draft.id, file_text, "external-save")
        self.drafts.store.save_revision(draft.id, draft.text, "manual")
        self.drafts.draft = self.drafts.store.get_draft(draft.id)
        self.drafts.session.conflict = True
        stamp = time.strftime("%H:%M %d %b", time.localtime(draft.updated))
        self.divergence_question = (
            f"{path.name} on disk is older than your latest text in writer (from {stamp}), "
            f"which is shown. Both versions are kept in history ({self._key('history')})."
        )
        return draft.text

    def ask_about_divergence(self) -> None:
        """After the draft is shown: ask what to do about a file that lacks writer's text."""
        question, self.divergence_question = self.divergence_question, ""
        if question and self.drafts.session.conflict and not self.drafts.read_only:
            self.resolve_conflict(question)

    def write_file(self, text: str) -> bool:
        """Write the external file (see DraftSession.write_file) and show what came of it."""
        written = self.drafts.session.write_file(text)
        self.drafts.show_notices()
        return written

    # -- conflicts ------------------------------------------------------------------------------
    def resolve_conflict(self, question: str | None = None) -> None:
        from writer.ui.screens.confirm import ChoiceScreen

        def chosen(choice: str | None) -> None:
            if choice == "overwrite":
                self._overwrite_file()
            elif choice == "reload":
                self._reload_file()

        self.drafts.app.push_screen(
            ChoiceScreen(
                question or f"{self.drafts.file} changed on disk since it was opened.",
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

        text = self.drafts.screen.editor.text
        try:
            disk = ExternalFile.open(self.drafts.external.path).text
        except (WriterError, OSError):
            disk = None
        if (
            disk is not None
            and disk != text
            and self.drafts.store is not None
            and self.drafts.draft
        ):
            try:  # the version on disk goes into history before it is replaced
                self.drafts.store.save_revision(self.drafts.draft.id, disk, "external-save")
            except WriterError:
                pass
        try:
            self.drafts.external.save(text, force=True)
        except (WriterError, OSError) as exc:
            self.drafts.session.file_failed(error_line(exc))
            self.drafts.show_notices()
            return
        self.drafts.session.conflict = False
        self.drafts.session.file_error = ""
        self.drafts.session.dirty = True
        self.drafts.save_now(reason="external-save")
        self.drafts.app.notify("Saved over the file on disk.")

    def _reload_file(self) -> None:
        self.drafts.session.dirty = True
        self.drafts.save_now(reason="manual")  # keep our version in the history first
        try:
            text = self.drafts.external.reload()
        except (WriterError, OSError) as exc:
            self.drafts.app.notify(
                f"Cannot reload {self.drafts.file}: {error_line(exc)}", severity="error"
            )
            return
        self.drafts.session.conflict = False
        self.drafts.session.file_error = ""
        editor = self.drafts.screen.editor
        editor.history.checkpoint()
        editor.replace(text, (0, 0), editor.document.end, maintain_selection_offset=False)
        self.drafts.session.dirty = True
        self.drafts.save_now(reason="external-save")
