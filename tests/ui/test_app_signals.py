"""The real app in a real terminal (tmux): a graceful signal saves everything typed, then exits.

Each test types three words, waits until the status bar counts them (so the keys were handled)
and sends the signal at once, well before the 0.5 s autosave would have saved them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from writer.store import DraftStore

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

REPO = Path(__file__).resolve().parents[2]


class TmuxWriter:
    """`writer` running alone in a detached tmux session on a private server."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.socket = str(tmp_path / "tmux.sock")
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        command = (
            f"cd {REPO} && exec env {exports} PYTHONPATH={REPO} {sys.executable} -m writer "
            f"--model {tmp_path / 'no-model'}"
        )
        self.tmux("new-session", "-d", "-s", "w", "-x", "100", "-y", "30", command)
        self.pid = int(self.tmux("display-message", "-p", "-t", "w", "#{pane_pid}").strip())

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "w")

    def wait_for_screen(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen():
            assert time.monotonic() < deadline, f"{text!r} never shown:\n{self.screen()}"
            time.sleep(0.05)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # A zombie (exited, not yet reaped by tmux) has finished too.
        stat = Path(f"/proc/{self.pid}/stat")
        return not (stat.exists() and stat.read_text().split()[2] == "Z")

    def wait_gone(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            assert time.monotonic() < deadline, "writer did not exit"
            time.sleep(0.1)

    def close(self) -> None:
        if self.alive():
            os.kill(self.pid, 9)
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT", "kill-session"])
def test_graceful_signal_saves_everything_typed(tmp_path, isolated_user_dirs, how):
    app = TmuxWriter(tmp_path, isolated_user_dirs)
    try:
        app.wait_for_screen("0 words")
        app.tmux("send-keys", "-t", "w", "-l", "one two three")
        app.wait_for_screen("3 words")
        if how == "kill-session":
            app.tmux("kill-session", "-t", "w")
        else:
            os.kill(app.pid, getattr(signal, how))
        app.wait_gone()
    finally:
        app.close()
    with DraftStore.open() as store:
        assert [store.get_draft(d.id).text for d in store.list_drafts()] == ["one two three"]
