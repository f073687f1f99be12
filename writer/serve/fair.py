"""Whose request runs next on `writer serve`'s one engine: round-robin across clients.

A plain first-in-first-out lock let one client that queued 30 long requests make a newcomer
wait behind all of them (and time out). Here each client has its own queue, and turns go to
the clients in rotation: a newcomer waits for at most one request of each client ahead of it.
A batched decoding scheduler would take its next requests from `FairGate` in the same order.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairGate:
    """One holder at a time; waiting requests are granted round-robin by client key."""

    def __init__(self) -> None:
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._busy = False

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """Hold the gate for the body of the `async with`; waits for this client's turn."""
        if not self._busy and not self._queues:
            self._busy = True
        else:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queues.setdefault(client, deque()).append(granted)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release()  # granted just as it was cancelled: pass the turn on
                else:
                    self._forget(client, granted)
                raise
        try:
            yield
        finally:
            self._release()

    def _forget(self, client: str, granted: asyncio.Future[None]) -> None:
        queue = self._queues.get(client)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._queues[client]

    def _release(self) -> None:
        """Give the gate to the next client in rotation (it goes to the back if it has more)."""
        while self._queues:
            client, queue = next(iter(self._queues.items()))
            granted = queue.popleft()
            if queue:
                self._queues.move_to_end(client)
            else:
                del self._queues[client]
            if not granted.done():
                granted.set_result(None)
                return
        self._busy = False
