"""`writer serve`'s limits on connections: what keeps slow or idle clients from holding the
server's file descriptors, and a repeated error from flooding the log.

uvicorn times out an idle keep-alive connection (`timeout_keep_alive`) but nothing else: a
client that sends its request headers one byte a second, or connects and sends nothing, holds
its connection (and a file descriptor) for ever, and about 20,000 of them exhausted the
process's descriptors. `GuardedH11Protocol` adds the missing deadline, refuses connections
past MAX_CONNECTIONS at once, and `RepeatedErrorLog` turns the event loop's flood of identical
errors ("Too many open files" from accept()) into one line per minute with a count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

# A request's headers must arrive within this many seconds of its first byte (or of the
# connection, for the first request); a real client sends them in one packet.
HEADER_TIMEOUT_S = 10.0
# A request's body must arrive within this many seconds of its headers (4 MB at most).
BODY_TIMEOUT_S = 30.0
# An idle keep-alive connection is closed after this many seconds (uvicorn's default).
KEEP_ALIVE_S = 5.0
# Open connections at most; one more is closed as soon as it is accepted. Requests past
# LIMIT_CONCURRENCY (connections plus running requests, uvicorn's count) are answered 503.
MAX_CONNECTIONS = 512
LIMIT_CONCURRENCY = 256
# h11's buffer for a request's head (request line and headers): 16 KB, its own default.
MAX_HEAD_BYTES = 16 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request heads and a cap on connections."""

    header_timeout = HEADER_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            transport.close()  # connection_lost removes it from the count
            return
        self._arm()

    def _awaiting_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._awaiting_head() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head():
            self._arm()  # the next request's head has begun: it gets HEADER_TIMEOUT_S
        super().data_received(data)
        if not self._awaiting_head():
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # idle now: uvicorn's keep-alive timeout takes over
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def uvicorn_limits() -> dict[str, Any]:
    """uvicorn.Config arguments for the limits above."""
    return {
        "http": GuardedH11Protocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": LIMIT_CONCURRENCY,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }


class RepeatedErrorLog:
    """An asyncio exception handler that logs an error the first time, then counts repeats of
    the same message and logs the count at most once per `every_s` seconds."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0, clock=time.monotonic):
        self.logger = logger
        self.every_s = every_s
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.last_report: dict[str, float] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        key = str(context.get("message", "error"))
        if exc is not None:
            key += f": {type(exc).__name__}: {exc}"
        now = self.clock()
        if key not in self.last_report:
            self.last_report[key] = now
            self.counts[key] = 0
            self.logger.error("%s", key)
            return
        self.counts[key] += 1
        if now - self.last_report[key] >= self.every_s:
            self.logger.error("%s (repeated %d times)", key, self.counts[key])
            self.counts[key] = 0
            self.last_report[key] = now
