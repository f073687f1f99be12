"""Where a command's `-o/--output FILE` goes: one set of rules for every command.

The rules are the drafts export's (`writer.store.export.check_target`): never into writer's
data folder or over a file the drafts store owns (by path, through a link, or a hard link: the
same inode); only a regular file or nothing at the destination; an atomic write (a temp file
beside it, fsync, rename). On top of them, for every command:
- never over one of the command's own input files (`--prompt-file story.md -o story.md`),
  compared by inode, so another name or a hard link for the same file is refused too;
- an existing file is replaced only with `--force`, or when the user says yes at a terminal.

Results are collected in memory and written once at the end (`OutputFile.commit`), so a failed
or interrupted run never leaves a half-written file in place of the user's.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from writer.errors import WriterError


def _reworded(exc: WriterError) -> WriterError:
    """The export rules' message, said of an output file rather than an export."""
    text = str(exc).replace("cannot export to ", "cannot write to ", 1)
    return type(exc)(text)


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return os.path.samefile(a, b)
    return False


def _confirm(question: str) -> bool:
    """Ask at a terminal (stdin and stderr both terminals); False anywhere else."""
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()
    except (ValueError, OSError):
        interactive = False
    if not interactive:
        return False
    print(question + " [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline(16)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return answer.strip().lower() in ("y", "yes")


def check_output(
    named: str,
    *,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    append: bool = False,
    store_path: Path | None = None,
) -> Any:
    """The checked destination (an `ExportTarget`) for `-o named`, or a one-line WriterError.

    `inputs` are the command's input files: the output may never be one of them. `append`
    (`generate --resume`) goes on with an existing file, which needs no consent. `store_path`:
    the drafts database in use (default: writer's own).
    """
    from writer.paths import database_path
    from writer.store.export import check_target

    try:
        # -o names the destination explicitly, so a symlink there is followed (as `cp` would),
        # after the same checks on the file it points to.
        target = check_target(named, store_path=store_path or database_path(), follow_links=True)
    except WriterError as exc:
        raise _reworded(exc) from None
    if target.exists:
        for source in inputs:
            if source is not None and _same_file(target.path, Path(source).expanduser()):
                raise WriterError(
                    f"cannot write to {named}: it is the input file {source}; "
                    "write the results to another file"
                )
    if target.exists and not force and not append:
        shown = target.path if target.path != target.named else target.named
        if not _confirm(f"writer: {shown} exists; overwrite it?"):
            raise WriterError(
                f"{named} exists; add --force to overwrite it, or choose another name"
            )
        force = True
    return _Checked(target, overwrite=force or append, append=append)


class _Checked:
    __slots__ = ("append", "overwrite", "target")

    def __init__(self, target: Any, *, overwrite: bool, append: bool) -> None:
        self.target = target
        self.overwrite = overwrite
        self.append = append


class OutputFile(io.StringIO):
    """A text stream for `-o FILE`: written to the file, atomically, by `commit()`.

    Nothing touches the file before `commit()`; `close()` without it writes nothing, except
    that results of a run that failed part way are kept where that loses nothing: in a new
    file, or appended to the one `--resume` goes on with (`keep_partial()`).
    """

    def __init__(self, checked: _Checked) -> None:
        super().__init__()
        self._checked = checked
        self.name = str(checked.target.named)
        self.committed = False

    @property
    def path(self) -> Path:
        """The file that `commit()` creates or replaces (a followed link's target)."""
        return self._checked.target.path

    def isatty(self) -> bool:  # results go to a file, never streamed live
        return False

    def commit(self) -> None:
        """Write everything written so far to the file (once)."""
        from writer.store.export import write_export

        if self.committed:
            return
        self.committed = True
        content = self.getvalue()
        checked = self._checked
        if checked.append and checked.target.exists:
            content = _existing_text(checked.target.path) + content
        try:
            write_export(checked.target, content, overwrite=checked.overwrite)
        except WriterError as exc:
            raise _reworded(exc) from None

    def keep_partial(self) -> None:
        """After a failure: keep the results so far if that replaces nothing."""
        checked = self._checked
        if self.getvalue() and (checked.append or not checked.target.exists):
            with contextlib.suppress(WriterError, OSError):
                self.commit()


def _existing_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise WriterError(f"cannot read {path} to add to it: {exc.strerror or exc}") from None


def open_output(named: str, **rules: Any) -> OutputFile:
    """`check_output(named, **rules)`, then a stream whose content `commit()` writes there
    atomically."""
    return OutputFile(check_output(named, **rules))
