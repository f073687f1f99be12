"""The one error type users see: a one-line message that names the problem and the fix."""


class WriterError(Exception):
    """A problem the user can fix; its message is printed as one line, never a traceback."""


class UsageError(WriterError):
    """Bad command-line usage (exit code 2)."""
