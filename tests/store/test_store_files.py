"""Files writer creates in its data folder: private whatever the umask, and never written
through a link planted there."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from tests.conftest import run_writer
from writer.config import Config
from writer.store import DraftStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _seed(path: Path) -> tuple[int, int]:
    with DraftStore.open(path, config=Config()) as store:
        draft = store.create_draft("t", "first text")
        rev = store.history(draft.id)[0].id
        store.save_revision(draft.id, "second text", "manual")
    return draft.id, rev


def test_a_planted_lock_link_is_not_followed(isolated_user_dirs, tmp_path) -> None:
    env = isolated_user_dirs
    data = Path(env["XDG_DATA_HOME"]) / "writer"
    draft_id, rev = _seed(data / "writer.db")
    victim = tmp_path / "victim.txt"
    victim.write_text("do not truncate me", encoding="utf-8")
    locks = data / "locks"
    locks.mkdir(exist_ok=True)
    lock = locks / f"draft-{draft_id}.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)
    restored = run_writer("drafts", "restore", str(draft_id), str(rev), env=env)
    assert restored.returncode == 0, restored.stderr
    assert victim.read_text(encoding="utf-8") == "do not truncate me"
    assert not lock.is_symlink() and lock.is_file()
    lock.unlink()
    os.link(victim, lock)  # a hard link is refused too: never truncated through
    restored = run_writer("drafts", "restore", str(draft_id), str(rev), env=env)
    assert restored.returncode == 0, restored.stderr
    assert victim.read_text(encoding="utf-8") == "do not truncate me"
    shutil.rmtree(locks)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    locks.symlink_to(elsewhere)  # the whole lock folder replaced by a link
    restored = run_writer("drafts", "restore", str(draft_id), str(rev), env=env)
    assert restored.returncode == 0, restored.stderr
    assert list(elsewhere.iterdir()) == [] and not locks.is_symlink() and locks.is_dir()
    with DraftStore.open(data / "writer.db") as store:
        assert store.get_draft(draft_id).text == "first text"


def test_data_folder_database_and_locks_are_private_whatever_the_umask(isolated_user_dirs):
    env = isolated_user_dirs
    share = Path(env["XDG_DATA_HOME"])
    os.rmdir(share)  # created by the fixture; let writer create it (and its parents' child)
    old = os.umask(0)
    try:
        result = run_writer("drafts", "list", env=env)
        store = DraftStore.open(share / "writer" / "writer.db")
        draft = store.create_draft("x", "y")
        assert store.acquire_lock(draft.id)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    data = share / "writer"
    assert _mode(share) == 0o700 and _mode(data) == 0o700 and _mode(data / "locks") == 0o700
    assert _mode(data / "writer.db") == 0o600
    assert _mode(data / "writer.db-wal") == 0o600
    assert _mode(data / "locks" / f"draft-{draft.id}.lock") == 0o600
    store.close()
