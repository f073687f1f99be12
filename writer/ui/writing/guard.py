"""Saving when the world goes away: termination signals, and a database changed under us.

`StoreGuard` is owned by the open draft (saving.py `OpenDraft`) and owns the signal handlers it
installed and the identity of the database file it checks.

- SIGTERM, SIGHUP (terminal closed, SSH dropped, `tmux kill-session`) and SIGINT save everything
  typed, then exit. The handlers run on the event loop (asyncio's `add_signal_handler`), so they
  touch the editor on the UI thread like any other event. Only kill -9 can lose the last < 2 s.
- A save that fails before exiting leaves the text in its rescue file (writer.store.rescue),
  written then whatever the throttle, and the exit message names it.
- A database file deleted, truncated or replaced while the app runs: SQLite does not notice and
  every save "succeeds", so the store checks the file before each write and on every autosave
  tick and writes the database again from its open connection (writer.store.rebuild); the
  guard tells the author and gives the open draft the editor's text (a new draft where its row
  could not be read back).
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any

from writer.errors import WriterError, error_line, log_exception

if TYPE_CHECKING:
    from writer.ui.writing.ports import OpenDraftPort

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class StoreGuard:
    """Signal handlers and the check that the drafts database file is still ours."""

    def __init__(self, drafts: OpenDraftPort) -> None:
        self.drafts = drafts
        self._signals: list[int] = []

    # -- signals --------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """Save-then-exit on SIGTERM/SIGHUP/SIGINT (not in tests' headless apps: pytest owns
        its signals)."""
        if self.drafts.app.is_headless:
            return
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            try:
                loop.add_signal_handler(sig, self.exit_on_signal, sig)
            except (ValueError, RuntimeError, NotImplementedError):
                continue
            self._signals.append(sig)

    def remove_signal_handlers(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals = []

    def exit_on_signal(self, sig: int) -> None:
        """Save everything typed (store and file), release the draft and exit with 128+sig."""
        if self.drafts.exiting:
            return
        self.drafts.exiting = True
        self.drafts.screen.generation.cancel()
        saved = False
        try:
            self.check_store_file()
            saved = self.drafts.save_now(reason="quit" if self.drafts.session.dirty else None)
        except Exception as exc:  # exiting must not be stopped by a failed save
            log_exception(exc)
        message = None if saved else self._rescue_before_exit()
        self.drafts.close_store()
        if sig == signal.SIGHUP:
            # The terminal is gone: nothing to restore on it, and an orderly shutdown would
            # wait for a model load that cannot be interrupted. The text is saved (or in its
            # rescue file); go now.
            os._exit(128 + int(sig))
        shown = None
        if message is not None:
            from rich.text import Text

            shown = Text(message)  # plain text: a path's brackets are not markup
        self.drafts.app.exit(return_code=128 + int(sig), message=shown)

    def _rescue_before_exit(self) -> str | None:
        """The save before exiting failed: the text goes to its rescue file now, whatever the
        throttle; the exit message says where (or, where no folder took it, holds the text)."""
        session = self.drafts.session
        if self.drafts.read_only:
            return None
        try:
            text = self._text()
        except Exception:  # the editor is gone: nothing on screen that the store lacks
            return None
        if not session.dirty and not session.save_error:
            return None
        why = session.save_error or "the save failed"
        path = session.rescue_text(text, now=True)
        if path is not None:
            return f"writer: your latest text could not be saved ({why}); it is safe in {path}"
        return (
            f"writer: your latest text could not be saved ({why}) and no rescue file could be "
            f"written; here it is, between the lines:\n---\n{text}\n---"
        )

    # -- the database file ----------------------------------------------------------------------
    def check_store_file(self) -> None:
        """Have the store check that its database file is still the one it writes (deleted,
        truncated or replaced underneath: the store writes it again from its open connection,
        writer.store.rebuild) and tell the author what it did. Every save checks too, so a
        notice can also come from an autosave."""
        store = self.drafts.store
        if store is None or self.drafts.read_only:
            return
        with self.drafts.session.lock:  # an autosave being written finishes first
            try:
                now = store.check_file()
            except WriterError as exc:
                session = self.drafts.session
                session.store_failed(error_line(exc), session.rescue_text(self._text()))
                self.drafts.show_notices()
                return
            notices = [*store.take_file_notices(), *([now] if now else [])]
            if notices:
                self._keep_open_draft(store)
        for notice in notices:
            self.drafts.app.notify(
                f"{notice[:1].upper()}{notice[1:]}.", title="Drafts", severity="warning", timeout=20
            )
        if notices:
            self.drafts.show_notices()

    def _text(self) -> str:
        return str(self.drafts.screen.editor.text)

    def _keep_open_draft(self, store: Any) -> None:
        """After the database was written again: the open draft gets the editor's text as a
        "recovered" revision, or, where its row could not be read back, a new draft."""
        draft, text = self.drafts.draft, self._text()
        session = self.drafts.session
        try:
            with session.writing():
                if draft is not None and _has_draft(store, draft.id):
                    store.save_revision(draft.id, text, "recovered")
                elif draft is not None:
                    self.drafts.draft = store.create_draft(
                        draft.title,
                        text,
                        preset=draft.preset,
                        overrides=draft.overrides,
                        model=draft.model,
                        external_path=draft.external_path,
                    )
                    store.acquire_lock(self.drafts.draft.id)
                elif text:
                    session.create_draft_for(text)
        except WriterError as exc:
            session.store_failed(error_line(exc), session.rescue_text(text))
            return
        session.dirty = False
        self.drafts.update_save_state()


def _has_draft(store: Any, draft_id: int) -> bool:
    try:
        store.get_draft(draft_id)
    except WriterError:
        return False
    return True
