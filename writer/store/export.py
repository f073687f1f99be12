"""Writing an export to a file safely; shared by `writer drafts export -o` and the app's library.

Rules, in the order they are checked (`check_target`):
- never into writer's data folder or over any file the drafts store owns (the database, its
  -wal/-shm, lock files, moved-aside copies), even through a link or a hard link;
- only a regular file (or nothing) at the destination: never a folder, FIFO or device;
- a symlink at the destination is followed only when the caller says the user named it
  (`follow_links=True`); otherwise the link itself is what would be replaced;
- something already there is only replaced with the user's consent (`overwrite=True`: `--force`
  on the command line, a confirmation in the app).
`write_export` then writes atomically (temp file in the same folder, fsync, rename, fsync the
folder), and creates a new file with a link(2) that fails if a file appeared in the meantime,
so a check-then-write race cannot clobber anything either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from writer.errors import WriterError
from writer.store.textio import encodable


class ExportExistsError(WriterError):
    """The destination exists and the caller did not allow overwriting it."""


@dataclass(frozen=True)
class ExportTarget:
    """Where an export goes, after the checks."""

    named: Path  # what the user gave
    path: Path  # what will be created or replaced (a link's target when following links)
    exists: bool  # something is there now: replacing it needs consent
    link_target: Path | None = None  # `named` is a symlink to this (not followed unless asked)


def protected_locations(store_path: Path | None = None) -> list[Path]:
    """Folders an export may never write into: writer's data folder, and the store's own
    folder's lock folder when the store lives elsewhere (tests, XDG overrides)."""
    from writer.paths import data_dir

    places = [data_dir()]
    if store_path is not None:
        places.append(store_path.parent / "locks")
    return places


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _store_files(store_path: Path) -> list[Path]:
    return [Path(f"{store_path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]


def _refuse_store(final: Path, named: Path, store_path: Path | None) -> None:
    """WriterError if `final` is, or is inside, something the drafts store owns."""
    real_final = _real(final.parent) / final.name
    for folder in protected_locations(store_path):
        if _inside(real_final, _real(folder)):
            raise WriterError(
                f"cannot export to {named}: it is inside writer's data folder {folder}, where "
                "the drafts database lives; export somewhere else"
            )
    if store_path is None:
        return
    real_store = _real(store_path)
    if real_final.parent == real_store.parent and real_final.name.startswith(real_store.name):
        raise WriterError(
            f"cannot export to {named}: that name belongs to the drafts database "
            f"{store_path}; export somewhere else"
        )
    for owned in _store_files(store_path):
        with contextlib.suppress(OSError):
            if final.exists() and os.path.samefile(final, owned):
                raise WriterError(
                    f"cannot export to {named}: it is the drafts database file {owned}; "
                    "export somewhere else"
                )


def check_target(
    named: str | Path,
    *,
    store_path: Path | None = None,
    follow_links: bool = False,
    extra_protected: Iterable[Path] = (),
) -> ExportTarget:
    """Validate an export destination; one-line WriterError naming the problem and the fix."""
    raw = str(named)
    named = Path(named).expanduser()
    if str(named) in ("", "."):
        raise WriterError("give a file name to export to")
    if raw.endswith(os.sep) and not named.is_dir():
        raise WriterError(
            f"cannot export to {raw}: the folder {named} does not exist; give a file name "
            "(without a trailing /) or create the folder first"
        )
    link_target: Path | None = None
    final = named
    try:
        st: os.stat_result | None = os.lstat(named)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise WriterError(
            f"cannot export to {named}: {named.parent} is a file, not a folder"
        ) from None
    except OSError as exc:
        raise WriterError(f"cannot export to {named}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        link_target = Path(os.readlink(named))
        if not link_target.is_absolute():
            link_target = named.parent / link_target
        if follow_links:
            final = _real(named)
            try:
                st = os.stat(named)  # what the link leads to, even through /proc's magic links
            except FileNotFoundError:
                st = None
            except OSError as exc:
                raise WriterError(f"cannot export to {named}: {exc.strerror or exc}") from None
    _refuse_store(final, named, store_path)
    for folder in extra_protected:
        if _inside(_real(final.parent) / final.name, _real(folder)):
            raise WriterError(f"cannot export to {named}: it is inside {folder}")
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise WriterError(f"cannot export to {named}: it is a folder; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        raise WriterError(
            f"cannot export to {named}: it is not a regular file (a device or pipe); "
            "give a file name, or leave out -o to write to standard output"
        )
    parent = final.parent
    if not parent.exists():
        raise WriterError(
            f"cannot export to {named}: the folder {parent} does not exist; create it first "
            "or choose another folder"
        )
    if not parent.is_dir():
        raise WriterError(f"cannot export to {named}: {parent} is not a folder")
    return ExportTarget(named=named, path=final, exists=st is not None, link_target=link_target)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _describe(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable"
    return exc.strerror or str(exc)


def write_export(target: ExportTarget, content: str, *, overwrite: bool = False) -> None:
    """Write `content` (UTF-8) to `target.path` atomically.

    Without `overwrite`, an existing destination raises ExportExistsError and a new file is
    created so that it cannot replace one that appears meanwhile. A replaced file keeps its
    permission bits; a new one gets 0o666 minus the umask. The old file (if any) is untouched
    on any failure.
    """
    path = target.path
    if target.exists and not overwrite:
        if target.path != target.named:  # a link, followed: say which file would be replaced
            raise ExportExistsError(
                f"{target.named} is a link to {target.path}, which exists; add --force to "
                f"overwrite {target.path}, or choose another name"
            )
        raise ExportExistsError(
            f"{target.named} exists; add --force to overwrite it, or choose another name"
        )
    try:
        old_mode: int | None = stat.S_IMODE(os.lstat(path).st_mode) if overwrite else None
    except OSError:
        old_mode = None
    if old_mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    else:
        mode = old_mode
    data = encodable(content).encode("utf-8")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriterError(f"cannot export to {target.named}: {_describe(exc)}") from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), mode)
            if overwrite:
                os.replace(tmp, path)  # rename(2) replaces a link itself, never its target
            else:
                _create_new(tmp, path, target.named)
        except OSError as exc:
            raise WriterError(
                f"cannot export to {target.named}: {_describe(exc)}; nothing was written"
            ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _create_new(tmp: str, path: Path, named: Path) -> None:
    try:
        os.link(tmp, path)  # fails with EEXIST rather than replace what appeared meanwhile
    except FileExistsError:
        raise ExportExistsError(
            f"{named} appeared while exporting; add --force to overwrite it, or choose another name"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A filesystem without hard links (FAT, some network mounts): check, then rename.
        if os.path.lexists(path):
            raise ExportExistsError(
                f"{named} appeared while exporting; add --force to overwrite it"
            ) from None
        os.replace(tmp, path)
