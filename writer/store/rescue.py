"""Rescue files: where the author's text goes when the drafts database cannot take it (a full
disk, a read-only folder), so that no exit, signal or crash after a failed save loses it.

    rescue = RescueFile()
    path = rescue.write(text, "My story", story_file=None)   # None: nowhere could take it
    rescue.due()                                             # throttle for repeated failures

A rescue file is plain UTF-8 text, mode 0600, named `writer-rescue-TITLE-STAMP.txt`, written in
the first folder that takes it: the cache folder's `rescue/` (platformdirs; ~/.cache/writer
on Linux), the temp folder, then the folder of the story file being edited. Each write replaces
the whole file atomically (a temporary file beside it, fsync, rename), so a crash in the middle
leaves the previous copy; the same file is rewritten while the draft keeps failing to save.
Nothing deletes it: it is the author's to remove once the text is saved again.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESCUE_EVERY_S = 5.0  # a failing save rewrites the rescue file at most this often

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def rescue_folders(story_file: Path | None = None) -> list[Path]:
    """Where a rescue file may go, in the order tried."""
    from writer.paths import cache_dir

    folders = [cache_dir() / "rescue", Path(tempfile.gettempdir())]
    if story_file is not None:
        folders.append(Path(story_file).parent)
    return folders


def rescue_name(title: str, when: float) -> str:
    """`writer-rescue-TITLE-STAMP.txt`, the title reduced to what any file system takes."""
    safe = re.sub(r"[^\w.-]+", "-", title, flags=re.UNICODE).strip("-.")[:60] or "untitled"
    return f"writer-rescue-{safe}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}.txt"


class RescueFile:
    """The rescue file of one open draft: where it is, and when it was last written."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        folders: Callable[[Path | None], list[Path]] = rescue_folders,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._folders = folders
        #: The rescue file written last, or None.
        self.path: Path | None = None
        self._written_at = float("-inf")
        self._text: str | None = None

    def due(self) -> bool:
        """Whether a failing save should rewrite the file now (at most every RESCUE_EVERY_S)."""
        return self._clock() - self._written_at >= RESCUE_EVERY_S

    def write(self, text: str, title: str, story_file: Path | None = None) -> Path | None:
        """Write `text` to the rescue file (the same one as last time where it can); its path,
        or None when no folder could take it."""
        self._written_at = self._clock()
        if self.path is not None and text == self._text and self.path.is_file():
            return self.path
        name = self.path.name if self.path is not None else rescue_name(title, self._wall_clock())
        folders = self._folders(story_file)
        if self.path is not None:  # the folder that took it last time first
            folders = [self.path.parent, *[f for f in folders if f != self.path.parent]]
        for folder in folders:
            fresh = self.path is None or folder != self.path.parent
            try:
                target = _write_atomically(folder, _unused(folder, name) if fresh else name, text)
            except OSError:
                continue
            self.path, self._text = target, text
            return target
        return None

    def forget(self) -> None:
        """The draft is saved (or another is open): the next failure starts a new file."""
        self.path, self._text, self._written_at = None, None, float("-inf")


def _unused(folder: Path, name: str) -> str:
    """`name`, or `name` with -2, -3 ... before its suffix where a file has it (two drafts of
    one title in the same second must not share a rescue file)."""
    stem, suffix = name.rsplit(".", 1)
    candidate, n = name, 1
    while os.path.lexists(folder / candidate):
        n += 1
        candidate = f"{stem}-{n}.{suffix}"
    return candidate


def _write_atomically(folder: Path, name: str, text: str) -> Path:
    """`folder/name` replaced by `text` in one rename; OSError when the folder cannot take it."""
    from writer.paths import ensure_private_dir

    ensure_private_dir(folder)
    target = folder / name
    temp = folder / f".{name}.{os.getpid()}.tmp"
    # O_EXCL | O_NOFOLLOW: in a shared folder (the temp folder) a planted file or link is
    # never written through; rename then replaces whatever sits at the target, link included.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)  # our own leftover (the name holds our process ID)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            data = text.encode("utf-8", "surrogatepass")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target
