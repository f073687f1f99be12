"""Continuous batching: many requests on one Engine, their rows decoded together.

A `BatchScheduler` owns the engine on one thread. Requests are submitted from any thread
(`submit` checks them at once and returns an iterator of their events); between two decode
steps, finished requests leave and waiting ones join (up to `max_running` in flight), as in
vLLM's scheduler and llama.cpp server's slots. One round of the scheduler:
 1. each request in flight runs until it needs the model: its sampling (processors, bans,
    stops, its own seeded generators, logprobs) is the same `DecodeLoop` code a request alone
    runs (writer.engine.decode), so its candidates for a seed are the same;
 2. a request that is new computes one piece of its prompt (`piece` tokens) and waits for the
    next round, so a long prompt does not hold the others' decode for its whole length;
 3. the steps of all requests then run as one (writer.engine.gpt2.batched: the weights read
    once for every row of every request). With one request in flight, its step runs exactly
    as `Engine.stream` runs it.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from writer.engine.decode import Step, is_cancelled
from writer.engine.generate import release_free_memory
from writer.engine.types import CancelSignal, GenerationDone, GenerationEvent
from writer.errors import WriterError

_END = object()


class QueueFull(WriterError):
    """The scheduler's waiting line is full (`max_waiting`); try again later."""


class RequestEvents:
    """The events of one submitted request, in order; iterate from any thread. `close`
    cancels the request within a token, as its own cancel signal does.

    With a `sink`, events are handed to it instead (on the scheduler's thread: it must be
    quick, e.g. `loop.call_soon_threadsafe`): each event, an exception if the request failed,
    then None at the end."""

    def __init__(self, cancel: CancelSignal, sink: Callable[[Any], None] | None = None) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sink = sink
        self._cancel = cancel
        self.abandoned = False
        self.client = ""  # who asked (writer serve: the client's address); see _next_waiting
        self.generator: Any = None  # the request's DecodeLoop generator (the scheduler's)
        self.reply: Any = None  # what to send into it next (a step's logits)

    def put(self, item: Any) -> None:
        """Hand on an event, an exception or the end (_END)."""
        if self._sink is None:
            self._queue.put(item)
            return
        try:
            self._sink(None if item is _END else item)
        except RuntimeError:  # its receiver is gone (an event loop closed): stop the request
            self.abandoned = True

    def cancelled(self) -> bool:
        return self.abandoned or is_cancelled(self._cancel)

    def __iter__(self) -> Iterator[GenerationEvent]:
        return self

    def __next__(self) -> GenerationEvent:
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # iterating again ends again
            raise StopIteration
        if isinstance(item, BaseException):
            self._queue.put(_END)
            raise item
        return item

    def close(self) -> None:
        """Cancel the request (it ends within a token; its last event is GenerationDone)."""
        self.abandoned = True


class BatchScheduler:
    """Runs the requests submitted to it on `engine`, all in flight decoded together.

    `max_running`: requests in flight at once (the rest wait in arrival order); `piece`: prompt
    tokens computed per request per round; `max_waiting`: how many may wait (None: any), past
    which `submit` raises QueueFull. The scheduler thread starts with the first request
    and holds the engine's lock while it works, so a direct `Engine.stream` call waits its turn.
    """

    def __init__(
        self,
        engine: Any,
        *,
        max_running: int = 16,
        piece: int = 128,
        max_waiting: int | None = None,
    ) -> None:
        if max_running < 1 or piece < 1 or (max_waiting is not None and max_waiting < 0):
            raise ValueError("max_running and piece must be 1 or more, max_waiting 0 or more")
        self.engine = engine
        self.max_waiting = max_waiting
        self.max_running = max_running
        self.piece = piece
        self._waiting: collections.deque[RequestEvents] = collections.deque()
        self._turns: dict[str, int] = {}  # client -> when its last request started
        self._started = 0
        self._running: list[RequestEvents] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        # Throughput: (time, tokens) per round over the last WINDOW seconds.
        self._rounds: collections.deque[tuple[float, int]] = collections.deque()
        self.tokens = 0  # tokens decoded so far, every row of every request
        self.requests = 0  # requests finished (or failed, or cancelled)
        self.widest = 0  # the most requests one decode step has served
        self._members: tuple[int, ...] = ()  # the requests of the last batched step
        self._steps = 0  # batched steps since they changed (for the thread governor)

    WINDOW = 10.0

    # -- submitting -------------------------------------------------------------------------

    def submit(
        self,
        prompt: str,
        params: Any,
        n: int = 3,
        *,
        sink: Callable[[Any], None] | None = None,
        **options: Any,
    ) -> RequestEvents:
        """Queue a request (arguments as `Engine.stream`'s, plus `min_tokens`); returns its
        events (or hands them to `sink`: RequestEvents). Bad arguments raise here, in the
        caller's thread; a full waiting line raises QueueFull."""
        cancel = options.pop("cancel", None)
        client = options.pop("client", "")
        events = RequestEvents(cancel, sink)
        events.client = client
        events.generator = self.engine.steps(
            prompt, params, n, cancel=events.cancelled, piece=self.piece, **options
        )
        with self._wake:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            free = self.max_running - len(self._running)
            if self.max_waiting is not None and len(self._waiting) - free >= self.max_waiting:
                raise QueueFull(
                    f"{len(self._waiting)} requests are waiting already; try again shortly"
                )
            self._waiting.append(events)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="writer-batch-scheduler", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return events

    def stats(self) -> dict[str, float | int]:
        """Requests running and waiting, tokens decoded in all, requests ended, the most
        requests one step served, tokens/s over the last 10 s."""
        now = time.perf_counter()
        with self._wake:
            rounds = [(t, k) for t, k in self._rounds if now - t <= self.WINDOW]
            running, waiting = len(self._running), len(self._waiting)
        rate = 0.0
        if rounds:
            span = max(now - rounds[0][0], 1e-3)
            rate = sum(k for _, k in rounds) / span
        return {
            "running": running,
            "waiting": waiting,
            "tokens": self.tokens,
            "requests": self.requests,
            "widest_step": self.widest,
            "tokens_per_s": round(rate, 1),
        }

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def close(self) -> None:
        """Stop after the requests in flight; waiting ones end with an error."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    # -- the scheduler thread ---------------------------------------------------------------

    def _next_waiting(self) -> RequestEvents:
        """The waiting request to start next: round-robin across clients (the fewest running
        first, then the client whose last start is oldest, then first come). First-in-first-out
        let one client that queued 30 long requests make a newcomer wait behind all of them;
        this way a newcomer starts at the next free place."""
        running = collections.Counter(e.client for e in self._running)
        turns = self._turns

        def rank(i: int) -> tuple[int, int, int]:
            client = self._waiting[i].client
            return running[client], turns.get(client, -1), i

        best = min(range(len(self._waiting)), key=rank)
        events = self._waiting[best]
        del self._waiting[best]
        self._started += 1
        turns[events.client] = self._started
        if len(turns) > 4096:  # forget the oldest clients; a forgotten one just counts as new
            for client in sorted(turns, key=turns.__getitem__)[:2048]:
                del turns[client]
        return events

    def _loop(self) -> None:
        engine = self.engine
        while True:
            with self._wake:
                while not self._waiting and not self._running and not self._closed:
                    self._wake.wait()
                if self._closed:
                    for events in self._waiting:
                        events.put(RuntimeError("the scheduler was closed"))
                        events.put(_END)
                    self._waiting.clear()
                    if not self._running:
                        return
                while self._waiting and len(self._running) < self.max_running:
                    events = self._next_waiting()
                    if events.abandoned:  # left before it began: nothing to run
                        events.put(_END)
                        continue
                    self._running.append(events)
            with engine._lock:
                try:
                    self._round()
                except BaseException as exc:  # a fault outside any one request: end them all
                    for events in list(self._running):
                        self._leave(events, exc)
                if not self._running:
                    end = getattr(engine.backend, "end_request", None)
                    if end is not None:
                        end()
            if not self._running:
                release_free_memory()

    def _round(self) -> None:
        steps: list[tuple[RequestEvents, Step]] = []
        for events in list(self._running):
            try:
                item = self._advance(events)
            except BaseException as exc:  # reported to its caller; the others go on
                self._leave(events, exc)
                continue
            if item is _END:
                self._leave(events, _END)
            elif isinstance(item, Step):
                steps.append((events, item))
        if not steps:
            return
        try:
            results = self._step(steps)
        except BaseException as exc:
            for events, _ in steps:
                self._leave(events, exc)
            return
        self.widest = max(self.widest, len(steps))
        rows = 0
        for (events, step), logits in zip(steps, results, strict=True):
            events.reply = logits
            rows += step.tokens.shape[0]
        self.tokens += rows
        now = time.perf_counter()
        with self._wake:
            self._rounds.append((now, rows))
            while self._rounds and now - self._rounds[0][0] > self.WINDOW:
                self._rounds.popleft()

    def _step(self, steps: list[tuple[RequestEvents, Step]]) -> list[Any]:
        """One model step for every request that needs one. Alone, a request's step is its
        session's own (timed by its thread governor as `Engine.stream`'s are); batched, the
        governor times the batched step the same way, counting its steps afresh whenever the
        requests in it change (writer.engine.gpt2.backends.ThreadGovernor)."""
        if len(steps) == 1:
            _, step = steps[0]
            return [step.session.step(step.tokens)]
        from writer.engine.gpt2.batched import step_many

        members = tuple(id(events) for events, _ in steps)
        if members != self._members:
            self._members, self._steps = members, 0
        self._steps += 1
        governor = getattr(self.engine.backend, "governor", None)
        pairs = [(step.session, step.tokens) for _, step in steps]
        if governor is None:
            return step_many(pairs)
        rows = sum(step.tokens.shape[0] for _, step in steps)
        threads = governor.before_step(rows, self._steps)
        began = time.perf_counter()
        results = step_many(pairs)
        governor.after_step(rows, threads, time.perf_counter() - began)
        return results

    @staticmethod
    def _advance(events: RequestEvents) -> Any:
        """Run a request until it needs a model step (a Step), computed a prompt piece (None)
        or ended (_END); its events go to its queue on the way."""
        generator = events.generator
        while True:
            reply, events.reply = events.reply, None
            try:
                item = generator.send(reply)
            except StopIteration:
                return _END
            if item is None or isinstance(item, Step):
                return item
            events.put(item)

    def _leave(self, events: RequestEvents, end: Any) -> None:
        if end is not _END:
            events.put(end)
        events.put(_END)
        events.generator = None
        with self._wake:
            self._running.remove(events)
        self.requests += 1


class BatchedEngine:
    """An Engine whose `stream` and `generate` go through a BatchScheduler: callers on many
    threads (a batch job's workers, a server's requests) share decode steps. Everything else
    (name, precision, tokenizer, next_tokens, ...) is the wrapped engine's."""

    def __init__(self, engine: Any, **options: Any) -> None:
        self.engine = engine
        self.scheduler = BatchScheduler(engine, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def stream(self, prompt: str, params: Any, n: int = 3, **options: Any) -> RequestEvents:
        """As `Engine.stream` (and `min_tokens`), run alongside the other requests in flight."""
        return self.scheduler.submit(prompt, params, n, **options)

    def generate(self, prompt: str, params: Any, n: int = 3, **options: Any) -> list[Any]:
        done = None
        for event in self.stream(prompt, params, n, **options):
            done = event
        assert isinstance(done, GenerationDone)
        return done.candidates

    def close(self) -> None:
        self.scheduler.close()
