"""One claim per open draft, so a second writer instance knows the draft is already open.

fcntl.flock on a lock file per draft: the kernel drops the lock when the process dies, kill -9
included, so a crash never leaves a stale lock behind (unlike a PID file alone). The holder's
PID is written into the file only so the other instance can say who has it.

Lock files are opened relative to the lock folder's descriptor with O_NOFOLLOW, and only a
regular file with one link is ever truncated or written: a symlink or hard link planted at
`locks/draft-N.lock` is removed (it is never writer's), not written through.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class DraftLocks:
    """The locks this process holds, under `folder` (data_dir()/locks by default)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: dict[int, int] = {}  # draft ID -> open file descriptor holding the lock

    def _name(self, draft_id: int) -> str:
        return f"draft-{draft_id}.lock"

    def _open_folder(self, create: bool) -> int:
        flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
        if not create:
            return os.open(self.folder, flags)
        from writer.paths import ensure_private_dir

        ensure_private_dir(self.folder)
        try:
            # O_NOFOLLOW on the folder too: a link planted in place of locks/ is not followed.
            return os.open(self.folder, flags)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not self.folder.is_symlink():
                raise
        self.folder.unlink()  # the link, never what it points to; then our own folder
        ensure_private_dir(self.folder)
        return os.open(self.folder, flags)

    def _open_lock_file(self, dfd: int, name: str) -> int:
        """A descriptor on our own regular lock file `name` (created 0600 if missing)."""
        for _ in range(3):
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dfd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                os.unlink(name, dir_fd=dfd)  # a planted symlink: drop the link, not its target
                continue
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_nlink <= 1:  # some FUSE mounts report 0
                return fd
            # A hard link to some other file (or a FIFO...): never write it; unlink and retry.
            os.close(fd)
            os.unlink(name, dir_fd=dfd)
        raise OSError(errno.EEXIST, "the lock file keeps being replaced", name)

    def acquire(self, draft_id: int) -> bool:
        """True when we hold the draft now; False when another process (or store) holds it.

        If the lock folder cannot be written (read-only data dir) there is nothing to lock with;
        we answer True rather than block editing, since saving will report the real problem.
        """
        if draft_id in self._held:
            return True
        try:
            dfd = self._open_folder(create=True)
        except OSError:
            return True
        try:
            fd = self._open_lock_file(dfd, self._name(draft_id))
        except OSError:
            return True
        finally:
            os.close(dfd)
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
            dfd = self._open_folder(create=False)
        except OSError:
            return None
        try:
            fd = os.open(self._name(draft_id), os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=dfd)
        except OSError:
            return None
        finally:
            os.close(dfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                data = os.pread(fd, 32, 0).decode(errors="replace").strip()
                return int(data) if data.isdigit() else None
            return None  # we could take it: nobody holds it
        finally:
            os.close(fd)
