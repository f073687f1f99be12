"""Reading a user's text file: the one place for the checks every command needs.

Every reader of a user's file (the app's open path, `drafts import`, `generate --prompt-file`
and `--prompts`, the fine-tune and eval corpora) goes through `read_text_file`, so a device, a
FIFO or a huge file gets the same one-line answer everywhere: `writer /dev/zero` used to grow
to 9 GB, and `writer FIFO` blocked before the first frame.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from writer.errors import WriterError

# A novel is about 1 MB of UTF-8; 50 MB is far beyond any text someone edits or imports, and
# small enough that reading it (and the editor's copy of it) cannot exhaust memory.
MAX_TEXT_BYTES = 50 * 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder; give a text file"
    if stat.S_ISFIFO(mode):
        return "it is a pipe (FIFO), not a regular file; save the text to a file first"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file; give a text file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a regular file; give a text file"
    return "it is not a regular file; give a text file"


def _too_large(path: Path, purpose: str, size: int, limit: int) -> WriterError:
    return WriterError(
        f"cannot {purpose} {path}: it is {size / 1024 / 1024:.1f} MB, over the "
        f"{limit // (1024 * 1024)} MB limit for text files; split it into smaller files"
    )


def check_text_file(path: Path, *, purpose: str = "read", limit: int = MAX_TEXT_BYTES) -> int:
    """Raise a one-line WriterError unless `path` is a regular file within `limit`; its size.

    Uses `os.stat` only: nothing is opened, so a FIFO or a device cannot block or misbehave.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise WriterError(f"cannot {purpose} {path}: no such file") from None
    except OSError as exc:
        raise WriterError(f"cannot {purpose} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise WriterError(f"cannot {purpose} {path}: {_kind(info.st_mode)}")
    if info.st_size > limit:
        raise _too_large(path, purpose, info.st_size, limit)
    return info.st_size


def read_file_bytes(path: Path, *, purpose: str = "read", limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of regular file `path` (at most `limit`), or a one-line WriterError."""
    check_text_file(path, purpose=purpose, limit=limit)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening cannot hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise WriterError(f"cannot {purpose} {path}: no such file") from None
    except OSError as exc:
        raise WriterError(f"cannot {purpose} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WriterError(f"cannot {purpose} {path}: {_kind(info.st_mode)}")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while True:  # read at most limit + 1 bytes, even if the file grows while we read
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(path, purpose, total, limit)
    except OSError as exc:
        raise WriterError(f"cannot {purpose} {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def decode_text(data: bytes, path: Path, *, purpose: str = "read") -> str:
    """UTF-8 (a BOM is dropped) text without NUL bytes, or a one-line WriterError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WriterError(
            f"cannot {purpose} {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); convert it to UTF-8 first"
        ) from None
    if "\x00" in text:
        raise WriterError(f"cannot {purpose} {path}: it looks like a binary file, not text")
    return text


def read_text_file(path: Path, *, purpose: str = "read", limit: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file's contents, or a one-line WriterError that names the file and the fix.

    Only regular files are read (never a FIFO, device or socket), up to `limit` bytes.
    """
    path = Path(path)
    return decode_text(read_file_bytes(path, purpose=purpose, limit=limit), path, purpose=purpose)


def parse_toml(text: str, what: str) -> dict[str, Any]:
    """`text` parsed as TOML; a one-line WriterError naming `what` (e.g. "config file PATH")
    for invalid TOML, and for nesting too deep to parse (`a = [[[...]]]` thousands deep makes
    tomllib recurse past Python's limit)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WriterError(f"{what} is not valid TOML ({exc}); fix or remove it") from None
    except RecursionError:
        raise WriterError(
            f"{what} nests arrays or tables too deeply to read; fix or remove it"
        ) from None
