"""Writes that fail: a full disk and a read-only data folder.

The tests run as root, where chmod stops nothing, so they use mechanisms that bind root too:
- disk full: RLIMIT_FSIZE in a subprocess (with SIGXFSZ ignored, write() fails with EFBIG just
  as it would with ENOSPC once the file would grow past the limit);
- read-only: the immutable attribute (`chattr +i`), which even root cannot write through. It
  needs a filesystem that supports it (ext4, xfs, btrfs); elsewhere the test is skipped.
Either way the store must raise StoreWriteError, keep the last committed text, and accept the
next save on the same connection once the fault is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from writer.config import Config
from writer.store import DraftStore, StoreWriteError

DISK_FULL_SCRIPT = """
import os, resource, signal, sys
from pathlib import Path
from writer.config import Config
from writer.store import DraftStore, StoreWriteError

path = Path(sys.argv[1])
store = DraftStore.open(path, config=Config())
draft = store.create_draft("t", "before the disk filled up")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = max(os.path.getsize(p) for p in (path, Path(f"{path}-wal"))) + 64 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    store.save_text(draft.id, "x" * 2_000_000)
    print("NO ERROR")
except StoreWriteError as exc:
    print("ERROR", exc)
print("AFTER", store.get_draft(draft.id).text)
store.save_text(draft.id, "a small save still fits")
print("SMALL", store.get_draft(draft.id).text)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
store.save_text(draft.id, "y" * 2_000_000)
print("RETRY", len(store.get_draft(draft.id).text))
"""


def test_disk_full_raises_store_write_error_and_the_retry_works(tmp_path: Path) -> None:
    path = tmp_path / "writer.db"
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines["ERROR"].startswith(f"cannot save to the drafts database {path}")
    assert lines["AFTER"] == "before the disk filled up"
    assert lines["SMALL"] == "a small save still fits"
    assert lines["RETRY"] == "2000000"
    with DraftStore.open(path) as store:
        assert store.recovered is None
        assert store.last_draft().text == "y" * 2_000_000


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """chattr +i for the duration; skip the test where the filesystem cannot do it."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done: list[Path] = []
    try:
        for path in paths:
            result = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if result.returncode != 0:
                pytest.skip(f"cannot make files immutable here: {result.stderr.decode().strip()}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_data_folder_raises_and_the_store_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    path = folder / "writer.db"
    store = DraftStore.open(path, config=Config())
    draft = store.create_draft("t", "saved before")
    # Not the -shm file: SQLite maps it into memory, and an immutable mapping is a SIGBUS
    # rather than an error; a real read-only mount fails the database and WAL writes first.
    with immutable(path, Path(f"{path}-wal"), folder):
        with pytest.raises(StoreWriteError) as info:
            store.save_text(draft.id, "typed while read-only")
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        assert store.get_draft(draft.id).text == "saved before"
        with pytest.raises(StoreWriteError, match="cannot open the drafts database"):
            DraftStore.open(folder / "other.db")
    store.save_text(draft.id, "typed while read-only")  # the app's retry
    store.close()
    with DraftStore.open(path) as again:
        assert again.get_draft(draft.id).text == "typed while read-only"


def test_unreadable_database_is_moved_aside_when_permissions_apply(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file; the garbage-file tests cover moving aside")
    path = tmp_path / "writer.db"
    DraftStore.open(path).close()
    path.chmod(0)
    with DraftStore.open(path) as store:
        assert store.recovered is not None and store.recovered.exists()
