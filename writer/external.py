"""Editing a file in place (`writer story.md`): atomic saves that keep the file's permissions,
and a check that nobody else changed the file since we read it.

A missing file is created lazily, on the first save: opening `writer new.md` and quitting
without typing leaves nothing behind.

The store is not involved here; the app records an "external-save" revision after each save
(`DraftStore.save_revision(draft_id, text, "external-save")`) so history covers the file too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from writer.errors import WriterError
from writer.store.textio import encodable
from writer.textfiles import read_text_file

_BOM = "\ufeff"
# A save's temp file lives for milliseconds; one older than this was left by a killed writer.
# (Only the window that holds the draft writes its file, so a live one is rare; deleting one
# would only make that save fail and be retried.)
STALE_TEMP_S = 1.0


class ExternalChangedError(WriterError):
    """The file changed on disk since we read or wrote it; saving would overwrite that change."""


@dataclass(frozen=True)
class _Fingerprint:
    mtime_ns: int
    size: int
    sha256: str


def _fingerprint(path: Path) -> _Fingerprint | None:
    try:
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    return _Fingerprint(st.st_mtime_ns, st.st_size, digest)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (the directory entry lives in the directory's data)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on a directory
            os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def clean_stale_temp_files(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete the temp files that a killed save of `path` left beside it; returns them.

    Only names of writer's own making (`.NAME.` + mkstemp's 8 characters + `.tmp`), only regular
    files (never a link), and only ones older than STALE_TEMP_S, so a save in progress in another
    writer window is left alone.
    """
    now = time.time() if now is None else now
    pattern = re.compile(re.escape(_temp_prefix(path)) + r"[A-Za-z0-9_]{8}\.tmp")
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not pattern.fullmatch(name):
            continue
        candidate = path.parent / name
        try:
            st = candidate.lstat()
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= STALE_TEMP_S:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) so that a crash leaves either the old or the new file.

    Temp file in the same directory (a rename is atomic only within one filesystem), write,
    fsync, os.replace, fsync the directory. The file's permission bits (and, when we may, its
    owner) are kept; a new file gets the usual 0o666 minus umask, not mkstemp's 0o600.
    Raises WriterError naming the file on any OS failure; the old file is then untouched.
    """
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise WriterError(f"cannot save {path}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise WriterError(f"cannot save {path}: it is not a regular file")
    data = encodable(text).encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    except OSError as exc:
        raise WriterError(
            f"cannot save {path}: {exc.strerror or exc} (is the folder writable and the disk "
            "not full?)"
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(fh.fileno(), 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise WriterError(
            f"cannot save {path}: {exc.strerror or exc}; the file on disk is unchanged"
        ) from None
    _fsync_dir(path.parent)


class ExternalFile:
    """A text file opened for editing. Use `ExternalFile.open(path)`."""

    def __init__(self, path: Path, text: str, fingerprint: _Fingerprint | None, bom: bool):
        self.path = path
        self.text = text
        self._fingerprint = fingerprint
        self._bom = bom

    @classmethod
    def open(cls, path: str | Path) -> ExternalFile:
        """Read `path` (symlinks followed, so saves replace the target, not the link).

        A missing file opens empty and is created on the first save; a folder, an unreadable
        or a non-UTF-8 file raises a one-line WriterError naming the file. Temp files left by a
        save that was killed (kill -9, power loss) are removed first.
        """
        resolved = Path(os.path.realpath(Path(path).expanduser()))
        clean_stale_temp_files(resolved)
        if not resolved.exists():
            if not resolved.parent.is_dir():
                raise WriterError(f"cannot open {path}: folder {resolved.parent} does not exist")
            return cls(resolved, "", None, False)
        raw = read_text_file(resolved, purpose="open")
        bom = resolved.read_bytes().startswith(b"\xef\xbb\xbf")
        return cls(resolved, raw, _fingerprint(resolved), bom)

    @property
    def exists(self) -> bool:
        """Whether the file was on disk when we last read or wrote it."""
        return self._fingerprint is not None

    @property
    def mtime(self) -> float | None:
        """When the file was last modified as we last saw it (Unix time), None if missing."""
        return self._fingerprint.mtime_ns / 1e9 if self._fingerprint is not None else None

    def changed_on_disk(self) -> bool:
        """True when the file differs from what we last read or wrote (edited, replaced or
        deleted by someone else). A touched file with the same bytes does not count."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return self._fingerprint is not None
        except OSError:
            return True
        old = self._fingerprint
        if old is None:
            return True  # created by someone else since we opened the missing file
        if st.st_mtime_ns == old.mtime_ns and st.st_size == old.size:
            return False
        current = _fingerprint(self.path)
        if current is not None and current.sha256 == old.sha256:
            self._fingerprint = current  # only the timestamp moved
            return False
        return True

    def save(self, text: str, *, force: bool = False) -> None:
        """Write `text` atomically. Raises ExternalChangedError if the file changed on disk
        since we read it (unless `force`), WriterError if it cannot be written; either way the
        file on disk is unchanged and `text` is still the caller's."""
        if not force and self.changed_on_disk():
            raise ExternalChangedError(
                f"{self.path} changed on disk since it was opened; reload it or save anyway"
            )
        text = encodable(text)
        atomic_write_text(self.path, (_BOM if self._bom else "") + text)
        self.text = text
        self._fingerprint = _fingerprint(self.path)

    def reload(self) -> str:
        """Read the file again (dropping our view of it); returns the new text."""
        fresh = ExternalFile.open(self.path)
        self.text, self._fingerprint, self._bom = fresh.text, fresh._fingerprint, fresh._bom
        return self.text
