"""The real app on a pseudo-terminal whose other end goes away (ui/textual_ext/driver.py).

A terminal emulator that closes, or a harness that dies, leaves the app reading end-of-file
(or EIO) from a terminal that is not its controlling one, so no SIGHUP comes. Textual's input
thread then spun at a full core and the process ignored SIGTERM. Now it saves what was typed
and exits, as on SIGHUP.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from writer.store import DraftStore

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|[()][0-9A-B]|[=>]|\][^\x07]*\x07)")


def test_the_app_saves_and_exits_when_its_terminal_goes_away(tmp_path, isolated_user_dirs):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = {**os.environ, **isolated_user_dirs, "TERM": "xterm-256color", "PYTHONPATH": str(REPO)}
    app = subprocess.Popen(
        [sys.executable, "-m", "writer", "--model", str(tmp_path / "no-model")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,  # the pty is not its controlling terminal: no SIGHUP on close
        close_fds=True,
    )
    os.close(slave)
    output = b""

    def wait_for_screen(text: str, timeout: float = 60) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while text not in ANSI.sub(b"", output).decode("utf-8", "replace"):
            assert time.monotonic() < deadline, f"{text!r} never shown"
            if select.select([master], [], [], 0.05)[0]:
                output += os.read(master, 1 << 16)
            output = output[-(1 << 16) :]

    try:
        wait_for_screen("0 words")
        os.write(master, b"one two three")
        wait_for_screen("3 words")
        os.close(master)  # the terminal goes away; the autosave has not run yet
        master = -1
        assert app.wait(timeout=30) == 128 + signal.SIGHUP
    finally:
        if master >= 0:
            os.close(master)
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
    with DraftStore.open() as store:
        assert [store.get_draft(d.id).text for d in store.list_drafts()] == ["one two three"]
