"""Saving when the world goes away: termination signals, and a database deleted under us.

`StoreGuard` is owned by the open draft (saving.py `OpenDraft`) and owns the signal handlers it
installed and the identity of the database file it checks.

- SIGTERM, SIGHUP (terminal closed, SSH dropped, `tmux kill-session`) and SIGINT save everything
  typed, then exit. The handlers run on the event loop (asyncio's `add_signal_handler`), so they
  touch the editor on the UI thread like any other event. Only kill -9 can lose the last < 2 s.
- A database file deleted (or replaced) while the app runs: SQLite keeps writing to the deleted
  inode and every save "succeeds", so the app checks the file on every autosave tick. The open
  connection can still read the deleted database, so it is copied back to its path whole (every
  draft, not only the open one); when that fails, a fresh store gets the open draft's text.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from typing import TYPE_CHECKING, Any

from writer.errors import WriterError, error_line, log_exception

if TYPE_CHECKING:
    from writer.ui.writing.ports import OpenDraftPort

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class StoreGuard:
    """Signal handlers and the check that the drafts database file is still ours."""

    def __init__(self, drafts: OpenDraftPort) -> None:
        self.drafts = drafts
        self._store_file: tuple[int, int] | None = None  # (st_dev, st_ino) of the open database
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
        try:
            self.check_store_file()
            self.drafts.save_now(reason="quit" if self.drafts.session.dirty else None)
        except Exception as exc:  # exiting must not be stopped by a failed save
            log_exception(exc)
        self.drafts.close_store()
        if sig == signal.SIGHUP:
            # The terminal is gone: nothing to restore on it, and an orderly shutdown would
            # wait for a model load that cannot be interrupted. The text is saved; go now.
            os._exit(128 + int(sig))
        self.drafts.app.exit(return_code=128 + int(sig))

    # -- the database file ----------------------------------------------------------------------
    def remember_store_file(self, store: Any = None) -> None:
        """Note which file the open store is, to notice when it is deleted or replaced."""
        store = store or self.drafts.store
        self._store_file = None
        if store is not None:
            try:
                st = os.stat(store.path)
            except OSError:
                return
            self._store_file = (st.st_dev, st.st_ino)

    def check_store_file(self) -> None:
        """Recreate the store if its database file was deleted or replaced since it was opened."""
        if self.drafts.store is None or self._store_file is None:
            return
        try:
            st = os.stat(self.drafts.store.path)
        except FileNotFoundError:
            self._recreate_store(missing=True)
            return
        except OSError:
            return  # cannot tell (e.g. a folder made unreadable): saving will report problems
        if (st.st_dev, st.st_ino) != self._store_file:
            self._recreate_store(missing=False)

    def _recreate_store(self, *, missing: bool) -> None:
        with self.drafts.session.lock:  # an autosave being written finishes first
            self._recreate_store_locked(missing=missing)

    def _recreate_store_locked(self, *, missing: bool) -> None:
        from writer.store import DraftStore

        old, path = self.drafts.store, self.drafts.store.path
        copied = False
        if missing:
            try:
                old.copy_to(path)
                copied = True
            except (WriterError, OSError, sqlite3.Error):
                copied = False
        self.drafts.release_draft()
        try:
            old.close()
        except (WriterError, OSError, sqlite3.Error):
            pass
        self.drafts.store, self._store_file = None, None
        try:
            self.drafts.store = DraftStore.open(path, config=self.drafts.app.config)
        except WriterError as exc:
            self.drafts.session.store_failed(error_line(exc))
            self.drafts.show_notices()
            return
        self.remember_store_file()
        text = self.drafts.screen.editor.text
        draft = self.drafts.draft
        try:
            if draft is not None and copied:
                self.drafts.store.save_revision(draft.id, text, "recovered")
            elif draft is not None:
                self.drafts.draft = self.drafts.store.create_draft(
                    draft.title,
                    text,
                    preset=draft.preset,
                    overrides=draft.overrides,
                    model=draft.model,
                    external_path=draft.external_path,
                )
            elif text:
                self.drafts.session.create_draft_for(text)
            if self.drafts.draft is not None:
                self.drafts.store.acquire_lock(self.drafts.draft.id)
        except WriterError as exc:
            self.drafts.session.store_failed(error_line(exc))
            self.drafts.show_notices()
            return
        session = self.drafts.session
        session.dirty = False
        session.saved_through = session.edits  # an older autosave snapshot must not follow
        self.drafts.update_save_state()
        what = (
            "it was written again with every draft this window could still read"
            if copied
            else "a new one was started with this draft's text"
        )
        self.drafts.app.notify(
            f"The drafts database {path} was {'deleted' if missing else 'replaced'} while writer "
            f"was running; {what}.",
            title="Drafts",
            severity="warning",
            timeout=20,
        )
