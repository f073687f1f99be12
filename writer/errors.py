"""The one error type users see, and the one error path: a failure as one line for the user,
its full details in the log file. Shared by the CLI and the app."""

from __future__ import annotations

import traceback


class WriterError(Exception):
    """A problem the user can fix; its message is printed as one line, never a traceback."""


class UsageError(WriterError):
    """Bad command-line usage (exit code 2)."""


def error_line(exc: BaseException) -> str:
    """An exception as one line for the user: a WriterError's own message (it names the problem
    and the fix); anything else prefixed with its type, since it is unexpected."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, WriterError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def log_exception(exc: BaseException) -> str:
    """Append the full traceback to the log file; returns its path ("" if it cannot be written)."""
    try:
        from writer.paths import log_path

        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(exc)))
        return str(path)
    except Exception:  # logging must never be the thing that fails
        return ""
