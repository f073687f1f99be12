"""Reading a user's text file: one place for the checks every command needs."""

from __future__ import annotations

from pathlib import Path

from writer.errors import WriterError


def read_text_file(path: Path, *, purpose: str = "read") -> str:
    """A UTF-8 text file's contents, or a one-line WriterError that names the file and the fix."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WriterError(f"cannot {purpose} {path}: no such file") from None
    except IsADirectoryError:
        raise WriterError(f"cannot {purpose} {path}: it is a folder; give a text file") from None
    except OSError as exc:
        raise WriterError(f"cannot {purpose} {path}: {exc.strerror or exc}") from None
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
