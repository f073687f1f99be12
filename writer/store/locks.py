"""One claim per open draft, so a second writer instance knows the draft is already open.

fcntl.flock on a lock file per draft: the kernel drops the lock when the process dies, kill -9
included, so a crash never leaves a stale lock behind (unlike a PID file alone). The holder's
PID is written into the file only so the other instance can say who has it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class DraftLocks:
    """The locks this process holds, under `folder` (data_dir()/locks by default)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: dict[int, int] = {}  # draft ID -> open file descriptor holding the lock

    def _path(self, draft_id: int) -> Path:
        return self.folder / f"draft-{draft_id}.lock"

    def acquire(self, draft_id: int) -> bool:
        """True when we hold the draft now; False when another process (or store) holds it.

        If the lock folder cannot be written (read-only data dir) there is nothing to lock with;
        we answer True rather than block editing, since saving will report the real problem.
        """
        if draft_id in self._held:
            return True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path(draft_id), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._held[draft_id] = fd
        return True

    def release(self, draft_id: int) -> None:
        fd = self._held.pop(draft_id, None)
        if fd is not None:
            # Closing the descriptor releases the flock; the file stays (deleting it would race
            # with another process that has just opened it).
            os.close(fd)

    def release_all(self) -> None:
        for draft_id in list(self._held):
            self.release(draft_id)

    def owner(self, draft_id: int) -> int | None:
        """PID written by the process that holds the lock, if another one holds it."""
        if draft_id in self._held:
            return None
        try:
            fd = os.open(self._path(draft_id), os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                data = os.pread(fd, 32, 0).decode(errors="replace").strip()
                return int(data) if data.isdigit() else None
            return None  # we could take it: nobody holds it
        finally:
            os.close(fd)
