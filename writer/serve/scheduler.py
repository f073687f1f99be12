"""The server's request queue: completions in flight share decode steps.

Every completion is submitted to one `BatchScheduler` (writer.engine.batching): up to
`max_running` requests decode together, each step running the rows of all of them; the rest
wait in arrival order, at most `max_waiting` of them, past which a request is refused with 503
and a `Retry-After` (seconds) instead of waiting without bound. Events come back to the event
loop through `call_soon_threadsafe`, so no thread is held per request.

vLLM's request fields that are not sampling parameters are mapped here too: `min_tokens`, and
`ignore_eos` (no end of text before `max_tokens`, i.e. min_tokens = max_tokens).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

from writer.engine.batching import BatchScheduler, QueueFull

# The request fields handled here rather than by SamplingParams.
REQUEST_FIELDS = {"min_tokens", "ignore_eos"}
DEFAULT_MAX_RUNNING = 16
DEFAULT_MAX_WAITING = 64

__all__ = ["DEFAULT_MAX_RUNNING", "DEFAULT_MAX_WAITING", "QueueFull", "RequestQueue"]


def min_tokens_of(body: dict[str, Any], max_tokens: int) -> int:
    """The request's `min_tokens` (0 if absent; all of `max_tokens` with `ignore_eos`).
    Raises ValueError naming the field when one is malformed."""
    ignore = body.get("ignore_eos")
    if ignore is not None and not isinstance(ignore, bool):
        raise ValueError(f"ignore_eos must be true or false; got {ignore!r}")
    value = body.get("min_tokens")
    if value is None:
        value = 0
    elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= max_tokens:
        raise ValueError(f"min_tokens must be a whole number from 0 to max_tokens; got {value!r}")
    return max_tokens if ignore else value


class RequestQueue:
    """One engine's completions, batched; see the module docstring."""

    def __init__(
        self,
        engine: Any,
        *,
        max_running: int = DEFAULT_MAX_RUNNING,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self.scheduler = BatchScheduler(engine, max_running=max_running, max_waiting=max_waiting)

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the time the line ahead takes to start, at
        the recent pace (at least 1)."""
        stats = self.scheduler.stats()
        rate = float(stats["tokens_per_s"])
        ahead = int(stats["waiting"]) + int(stats["running"])
        if rate <= 0:
            return 1
        # A request is ~64 tokens on average in this estimate; the figure only spaces retries.
        return max(1, math.ceil(ahead * 64 / rate))

    def stats(self) -> dict[str, Any]:
        """For /health: running, waiting, tokens_per_s (last 10 s), tokens, widest_step."""
        return {**self.scheduler.stats(), "max_running": self.scheduler.max_running}

    def submit(self, prompt: str, params: Any, n: int, **options: Any) -> AsyncIterator[Any]:
        """Queue a request (on the event loop); returns its events as they come: events, an
        exception if it failed, then the end. Raises QueueFull (the line is full) or
        WriterError (a bad request) at once, before any response is begun."""
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Any] = asyncio.Queue()

        def sink(item: Any) -> None:
            loop.call_soon_threadsafe(out.put_nowait, item)

        handle = self.scheduler.submit(prompt, params, n, sink=sink, **options)
        return self._drain(handle, out)

    @staticmethod
    async def _drain(handle: Any, out: asyncio.Queue[Any]) -> AsyncIterator[Any]:
        try:
            while (item := await out.get()) is not None:
                yield item
        finally:
            handle.close()  # a client gone mid-stream stops its generation within a token

    def close(self) -> None:
        self.scheduler.close()
