"""kill -9 a process that writes through the store at random moments, many times over.

After every kill the store must open cleanly, pass SQLite's integrity check, and hold a prefix
of what was written: the text is exactly one of the written versions, never older than the last
save the writer saw return, and never older than what an earlier run left.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from writer.config import Config
from writer.store import DraftStore

HERE = Path(__file__).parent
ITERATIONS = 25


def _run_and_kill(mode: str, target: Path, rng: random.Random) -> int:
    """Start the writer, kill -9 it at a random moment; the last version it reported saved."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), mode, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.12))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    reported = [int(line) for line in out.split()]
    return reported[-1] if reported else -1


def _version(text: str) -> int:
    words = text.split()
    assert words == [f"w{k}" for k in range(len(words))], f"not a written version: {text[:80]!r}"
    return len(words)


def test_store_survives_kill_9_and_keeps_a_prefix(tmp_path: Path) -> None:
    db_path = tmp_path / "writer.db"
    rng = random.Random(1234)
    floor = 0
    total_saves = 0
    for _ in range(ITERATIONS):
        acknowledged = _run_and_kill("store", db_path, rng)
        with sqlite3.connect(db_path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store = DraftStore.open(db_path, config=Config(revisions_keep=5))
        try:
            assert store.recovered is None
            draft = store.last_draft()
            assert draft is not None
            version = _version(draft.text)
            # Everything the writer was told was saved is there; at most the one save that
            # committed without being reported is extra.
            assert version >= max(acknowledged, floor)
            assert version <= max(acknowledged, floor) + 1
            history = [store.get_revision(r.id) for r in store.history(draft.id)]
            assert len(history) <= 5
            revision_versions = [_version(r.text) for r in reversed(history)]
            assert revision_versions == sorted(revision_versions)
            assert all(v <= version for v in revision_versions)
            context = store.context.load(draft.id)  # never torn: memory and entry agree
            if context.lorebook:
                assert context.memory == context.lorebook[0].text
                assert _version(context.memory) <= version
            total_saves += version - floor
            floor = version
        finally:
            store.close()
    # The kills must have landed among saves, not all before the first one.
    assert total_saves > ITERATIONS


def test_external_file_survives_kill_9(tmp_path: Path) -> None:
    """An atomic save leaves the old or the new file, never a torn or empty one."""
    folder = tmp_path / "stories"
    folder.mkdir()
    target = folder / "story.md"
    target.write_text("", encoding="utf-8")
    os.chmod(target, 0o640)
    rng = random.Random(99)
    floor = 0
    for _ in range(10):
        acknowledged = _run_and_kill("external", target, rng)
        version = _version(target.read_text(encoding="utf-8"))
        assert max(acknowledged, floor) <= version <= max(acknowledged, floor) + 1
        assert target.stat().st_mode & 0o777 == 0o640
        floor = version
    leftovers = [p.name for p in folder.iterdir() if p.name != "story.md"]
    # A kill between mkstemp and rename can leave one hidden temp file; never more, and the
    # story itself is always whole.
    assert all(name.startswith(".story.md.") for name in leftovers)
    assert floor > 10
    # The next open of the file removes what the kills left (once it is not a live save's).
    from writer.external import ExternalFile

    past = time.time() - 10
    for name in leftovers:
        os.utime(folder / name, (past, past))
    assert ExternalFile.open(target).text == target.read_text(encoding="utf-8")
    assert [p.name for p in folder.iterdir()] == ["story.md"]
