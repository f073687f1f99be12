"""The terminal driver: Textual's Linux driver with two changes for writer.

- **Input in batches.** Textual hands every parsed input event to the event loop on its own
  (`asyncio.run_coroutine_threadsafe`: a task and two futures per key). A paste from a terminal
  without bracketed paste is one key per character, so a 2,000-word paste cost ~12,000 of those
  before the editor saw a key. Here the events parsed from one read of the terminal reach the
  App's queue in one callback, in the same order.
- **A terminal that goes away ends the app.** When the terminal closes (the pty's other end is
  gone: reads give end-of-file or EIO), Textual's input thread kept selecting and reading
  nothing (a spin at one core's full speed), and writes to the terminal failed in the output
  thread, which died and left the UI thread blocked on its full queue: the process ignored
  SIGTERM. Now the driver raises SIGHUP in the process, as the kernel does for a controlling
  terminal that hangs up, so the app saves everything typed and exits (ui/writing/guard.py), and
  writes to a gone terminal are dropped instead of killing the output thread.
"""

from __future__ import annotations

import os
import selectors
import signal
import threading
from codecs import getincrementaldecoder
from typing import IO, Any

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message


class _HangupSafeFile:
    """The terminal's output file, for Textual's output thread: a write or flush that fails
    because the terminal is gone reports the hangup instead of raising (which would end the
    output thread and block the UI thread on its queue)."""

    def __init__(self, file: IO[str], hung_up: Any) -> None:
        self._file = file
        self._hung_up = hung_up

    def write(self, text: str) -> None:
        try:
            self._file.write(text)
        except (OSError, ValueError):
            self._hung_up()

    def flush(self) -> None:
        try:
            self._file.flush()
        except (OSError, ValueError):
            self._hung_up()

    def fileno(self) -> int:
        return self._file.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class WriterDriver(LinuxDriver):
    """LinuxDriver with input delivered in batches and an exit when the terminal hangs up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = _HangupSafeFile(self._file, self._hung_up)
        self._outbox: list[Message] = []
        self._outbox_lock = threading.Lock()
        self._hangup_sent = False

    # -- input in batches -------------------------------------------------------------------
    def send_message(self, message: Message) -> None:
        with self._outbox_lock:
            self._outbox.append(message)
            if len(self._outbox) > 1:
                return  # a delivery is already scheduled and will take this one too
        self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        """On the event loop: post what the input thread parsed, in order."""
        with self._outbox_lock:
            messages, self._outbox = self._outbox, []
        for message in messages:
            self._app.post_message(message)

    # -- a terminal that goes away ----------------------------------------------------------
    def _hung_up(self) -> None:
        """The terminal is gone: SIGHUP, once (the app's handler saves and exits); not once
        the app is leaving the terminal anyway (its last writes may fail)."""
        if self._hangup_sent or self.exit_event.is_set():
            return
        self._hangup_sent = True
        os.kill(os.getpid(), signal.SIGHUP)

    def start_application_mode(self) -> None:
        self._hangup_sent = False  # (again, after a suspend: ctrl+z in the shell, then fg)
        super().start_application_mode()

    def stop_application_mode(self) -> None:
        self._hangup_sent = True
        super().stop_application_mode()

    def run_input_thread(self) -> None:
        """Textual 8's LinuxDriver.run_input_thread, but end-of-file or an error reading the
        terminal means it hung up (Textual treats end-of-file as a piped stdin and reads on)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        feed, tick = parser.feed, parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> bool:
            """Parse what can be read; False once the terminal is gone."""
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
                    try:
                        data = os.read(fileno, 1024 * 4)
                    except OSError:
                        data = b""
                    if not data:
                        if self.input_tty:
                            return False
                        break  # a piped stdin at its end (as Textual does)
                    for event in feed(decode(data, final=final and last)):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not process_selector_events(selector.select(0.1)):
                    self._hung_up()
                    return
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
