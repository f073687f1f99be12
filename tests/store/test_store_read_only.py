"""Reading drafts where nothing can be written: a read-only data folder, a full disk.

`writer drafts list/show/export/history` must still get the text out (saves still in the -wal
included); writing commands keep failing with one clear line. Mechanisms that bind root too:
the immutable attribute (`chattr +i`, skipped where the filesystem lacks it) or, when not root,
plain permissions; a full disk is RLIMIT_FSIZE = 0 (every write that would grow a file fails,
as with ENOSPC)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_writer
from writer.config import Config
from writer.store import DraftStore, StoreWriteError

KILLED_MID_SESSION = """
import os, sys
from pathlib import Path
from writer.config import Config
from writer.store import DraftStore
store = DraftStore.open(Path(sys.argv[1]), config=Config())
draft = store.create_draft("Kept", "saved and checkpointed")
store.core.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
store.core.conn.execute("PRAGMA wal_autocheckpoint = 0")
store.save_text(draft.id, "the latest save, only in the WAL")
os._exit(0)  # like kill -9: the -wal (and -shm) stay behind, never checkpointed
"""

FULL_DISK = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
sys.argv = ["writer", *sys.argv[1:]]
runpy.run_module("writer", run_name="__main__")
"""


def _db(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "writer" / "writer.db"


def _killed_session(path: Path, keep_shm: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", KILLED_MID_SESSION, str(path)], check=True, timeout=60)
    assert Path(f"{path}-wal").stat().st_size > 0
    if not keep_shm:
        Path(f"{path}-shm").unlink()


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The folder and everything in it read-only, in a way that binds root too."""
    paths = [folder, *folder.iterdir()]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done: list[Path] = []
    try:
        for p in paths:
            # Not -shm: SQLite maps it, and an immutable mapping is a SIGBUS rather than an
            # error (a real read-only mount refuses the open instead).
            if p.name.endswith("-shm"):
                continue
            result = subprocess.run(["chattr", "+i", str(p)], capture_output=True)
            if result.returncode:
                pytest.skip(f"cannot make files immutable here: {result.stderr.decode().strip()}")
            done.append(p)
        yield
    finally:
        for p in done:
            subprocess.run(["chattr", "-i", str(p)], check=True)


def _reads_work(env: dict[str, str], *, run=run_writer) -> None:
    listing = run("drafts", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "Kept" in listing.stdout
    # SQLite itself may manage to read (then nothing to say), else one warning line.
    warning = listing.stderr
    assert not warning or warning.startswith("writer: warning: ") and warning.count("\n") == 1
    assert not warning or "read-only" in warning
    shown = run("drafts", "show", "1", env=env)
    assert shown.returncode == 0 and shown.stdout.endswith("the latest save, only in the WAL\n")
    exported = run("drafts", "export", "1", "--format", "txt", env=env)
    assert exported.stdout == "the latest save, only in the WAL\n"
    assert run("drafts", "history", "1", env=env).returncode == 0


@pytest.mark.parametrize("keep_shm", [True, False], ids=["with-shm", "without-shm"])
def test_read_only_data_folder_still_lists_shows_and_exports(
    isolated_user_dirs, tmp_path, keep_shm
):
    env = isolated_user_dirs
    path = _db(env)
    _killed_session(path, keep_shm)
    story = tmp_path / "story.txt"
    story.write_text("an import needs to write", encoding="utf-8")
    with read_only(path.parent):
        _reads_work(env)
        imported = run_writer("drafts", "import", str(story), env=env)
        assert imported.returncode == 1 and imported.stderr.startswith("writer: error: ")
        assert "drafts database" in imported.stderr and imported.stderr.count("\n") == 1
    with DraftStore.open(path) as store:  # nothing was lost or changed by reading
        assert store.get_draft(1).text == "the latest save, only in the WAL"


def _full_disk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FULL_DISK, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.mark.parametrize("killed", [True, False], ids=["after-a-crash", "after-a-clean-exit"])
def test_full_disk_still_lists_shows_and_exports(isolated_user_dirs, killed) -> None:
    env = isolated_user_dirs
    path = _db(env)
    _killed_session(path, keep_shm=False)
    if not killed:
        DraftStore.open(path).close()  # checkpoints; no -wal or -shm left
        assert not Path(f"{path}-wal").exists()
    _reads_work(env, run=_full_disk)


def test_damaged_database_in_a_read_only_folder_is_salvaged_in_memory(isolated_user_dirs):
    env = isolated_user_dirs
    path = _db(env)
    with DraftStore.open(path, config=Config()) as store:
        for i in range(1, 21):
            store.create_draft(f"d{i}", f"draft {i} " + "words " * 400)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xde\xad" * 2048
    path.write_bytes(bytes(data))
    with read_only(path.parent):
        listing = run_writer("drafts", "list", env=env)
        assert listing.returncode == 0, listing.stderr
        assert "damaged" in listing.stderr and listing.stderr.count("\n") == 1
        assert len(listing.stdout.splitlines()) == 20
        with pytest.raises(StoreWriteError):
            DraftStore.open(path)
        with DraftStore.open(path, read_only_ok=True) as store:
            assert store.read_only and len(store.list_drafts()) == 20
            with pytest.raises(StoreWriteError):
                store.create_draft("x", "y")
    assert path.read_bytes() == bytes(data)  # reading never changed the damaged file
