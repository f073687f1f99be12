"""The real app in a real terminal (tmux): a graceful signal saves everything typed, then exits.

Each test types three words, waits until the status bar counts them (so the keys were handled)
and sends the signal at once, well before the 0.5 s autosave would have saved them.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
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

    def __init__(self, tmp_path: Path, env: dict[str, str], program: str = "-m writer") -> None:
        self.socket = str(tmp_path / "tmux.sock")
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        command = (
            f"cd {REPO} && exec env {exports} PYTHONPATH={REPO} {sys.executable} {program} "
            f"--model {tmp_path / 'no-model'}"
        )
        self.tmux("new-session", "-d", "-s", "w", "-x", "100", "-y", "30", command)
        # Keep the pane after writer exits: its exit status and last words can be read.
        self.tmux("set-option", "-t", "w", "remain-on-exit", "on")
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


def test_sigterm_on_a_full_disk_leaves_every_word_in_a_rescue_file(tmp_path, isolated_user_dirs):
    full = tmp_path / "disk-is-full"
    env = {**isolated_user_dirs, "WRITER_TEST_DISK_FULL": str(full)}
    app = TmuxWriter(tmp_path, env, program="tests/ui/full_disk_writer.py")
    words = " ".join(f"word{k}" for k in range(30))
    try:
        app.wait_for_screen("0 words")
        app.tmux("send-keys", "-t", "w", "-l", "one two three")
        deadline = time.monotonic() + 30
        while _stored_texts() != ["one two three"]:  # the autosave landed
            assert time.monotonic() < deadline, "the first words were never saved"
            time.sleep(0.1)
        full.touch()
        app.tmux("send-keys", "-t", "w", "-l", f" {words}")
        app.wait_for_screen("33 words")
        app.wait_for_screen("disk full: your text is safe in")  # the autosave failed
        app.tmux("send-keys", "-t", "w", "-l", " last")
        app.wait_for_screen("34 words")
        os.kill(app.pid, signal.SIGTERM)
        app.wait_gone()
        deadline = time.monotonic() + 30
        while app.tmux("display-message", "-p", "-t", "w", "#{pane_dead}").strip() != "1":
            assert time.monotonic() < deadline, "tmux never saw writer exit"
            time.sleep(0.05)  # the process is gone; tmux reaps it a moment later
        # Exit status 143 is SIGTERM's. tmux may take a moment after the pane is dead to show
        # it; tmux 3.3 shows nothing at all for a process that a signal ended, so an empty
        # status after 5 s is read as that (the text's safety is checked below either way).
        settle = time.monotonic() + 5
        while not (status := _dead_status(app)) and time.monotonic() < settle:
            time.sleep(0.05)
        said = app.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "w")  # wrapped lines joined
    finally:
        app.close()
    assert status in ("status 143", "signal 15", ""), (status, said)
    rescue_dir = Path(isolated_user_dirs["XDG_CACHE_HOME"]) / "writer" / "rescue"
    [rescued] = list(rescue_dir.glob("writer-rescue-*.txt"))
    assert rescued.read_text(encoding="utf-8") == f"one two three {words} last"
    assert stat.S_IMODE(rescued.stat().st_mode) == 0o600
    said = "".join(said.split())  # however the terminal wrapped it
    assert "writer:yourlatesttextcouldnotbesaved" in said and str(rescued) in said
    assert _stored_texts() == ["one two three"]  # what landed before the disk filled


def _dead_status(app: TmuxWriter) -> str:
    """How the pane's process ended, as tmux saw it: "status N", "signal N", or "" not yet."""
    for kind in ("status", "signal"):
        value = app.tmux("display-message", "-p", "-t", "w", f"#{{pane_dead_{kind}}}").strip()
        if value:
            return f"{kind} {value}"
    return ""


def _stored_texts() -> list[str]:
    with DraftStore.open() as store:
        return [store.get_draft(d.id).text for d in store.list_drafts()]
