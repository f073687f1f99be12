"""Shared helpers of the app tests: a scripted engine with the real Engine.stream contract.

The scripted engine makes timing-sensitive flows (cancel within a token, typing during a slow
generation, a slow model load) deterministic; the flows that matter end-to-end also run on the
real tiny GPT-2 (see test_app.py).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any
from weakref import WeakKeyDictionary

from textual.message import Message
from textual.notifications import Notify

from writer.engine.types import (
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationStats,
    TokenChoice,
    TokenDelta,
    TokenLogprobs,
)


def scripted_choices(prefix: str, k: int, chosen: str | None = None) -> tuple[TokenChoice, ...]:
    """k alternatives " {prefix}0", " {prefix}1", ... with falling probabilities (50%, 25%...);
    `chosen` (when given) comes first."""
    texts = ([chosen] if chosen else []) + [f" {prefix}{j}" for j in range(k)]
    return tuple(
        TokenChoice(1000 + j, text, math.log(0.5 ** (j + 1)), math.log(0.5 ** (j + 1)))
        for j, text in enumerate(texts[:k])
    )


class ScriptedEngine:
    """Yields `tokens` steps of " c{index}t{step}" per candidate, `delay` seconds apart.

    With `logprobs=k` every step is one token of probability 50% whose alternatives are
    " alt0".. (see `scripted_choices`); `next_tokens` offers " next0", " next1", ...
    """

    name = "scripted"
    device = "cpu"
    precision = "fp32"
    supports_logprobs = True
    supports_prefix_cache = False
    max_candidates = 16

    def __init__(self, delay: float = 0.0, tokens: int = 4) -> None:
        self.delay = delay
        self.tokens = tokens
        self.calls: list[dict[str, Any]] = []
        self.steps_done = 0
        self.started = threading.Event()

    def stream(
        self, prompt, params, n=3, seed=None, mode="continue", cancel=None, *, logprobs=None
    ):
        self.calls.append({"prompt": prompt, "params": params, "n": n, "seed": seed, "mode": mode})
        self.started.set()
        texts = [""] * n
        infos: list[list[TokenLogprobs]] = [[] for _ in range(n)]
        start = time.monotonic()
        cancelled = False
        for step in range(self.tokens):
            if cancel is not None and cancel():
                cancelled = True
                break
            if self.delay:
                time.sleep(self.delay)
            self.steps_done += 1
            for i in range(n):
                piece = f" c{i}t{step}"
                texts[i] += piece
                tokens: tuple[TokenLogprobs, ...] = ()
                if logprobs is not None:
                    top = scripted_choices("alt", logprobs, piece)
                    tokens = (TokenLogprobs(step, piece, math.log(0.5), math.log(0.5), top),)
                    infos[i].extend(tokens)
                yield TokenDelta(i, piece, step, -1.0, tokens)
        reason = "cancelled" if cancelled else "length"
        steps = step if cancelled else self.tokens
        cands = [
            Candidate(t, steps, -1.0, (seed or 0) + i, i, reason, (), tuple(infos[i]))
            for i, t in enumerate(texts)
        ]
        for cand in cands:
            yield CandidateDone(cand.index, cand)
        stats = GenerationStats(3, 0, n * self.tokens, 0.01, max(time.monotonic() - start, 1e-3))
        yield GenerationDone(cands, stats, cancelled, seed or 0, prompt)

    def generate(self, prompt, params, n=3, seed=None, mode="continue", cancel=None, **kw):
        events = list(self.stream(prompt, params, n=n, seed=seed, mode=mode, cancel=cancel, **kw))
        return events[-1].candidates

    def next_tokens(self, text, params, k=10):
        self.calls.append({"next_tokens": text, "params": params, "k": k})
        return list(scripted_choices("next", k))


def loader_for(engine: Any, delay: float = 0.0):
    """An engine_loader for WriterApp that returns `engine` (after `delay` seconds)."""

    def load(name: str, device: str | None) -> Any:
        if delay:
            time.sleep(delay)
        return engine

    return load


async def wait_for(pilot, predicate, timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` is true (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


class MessageLog:
    """Every message the app handles, in order: pass it as `run_test(message_hook=...)`."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]

    def notices(self) -> list[str]:
        """The text of every notification shown so far."""
        return [str(m.notification.message) for m in self.of(Notify)]


_LOGS: WeakKeyDictionary[Any, MessageLog] = WeakKeyDictionary()


def run_app(app, **kwargs):
    """`app.run_test(...)` recording the app's messages for `notices` / `notified`."""
    log = _LOGS[app] = MessageLog()
    return app.run_test(message_hook=log, **kwargs)


def message_log(app) -> MessageLog:
    """The messages `app` (started with `run_app`) has handled so far."""
    return _LOGS[app]


def notices(app) -> list[str]:
    """The notifications `app` (started with `run_app`) has shown."""
    return _LOGS[app].notices()


def notified(app, text: str) -> bool:
    """Whether a notification containing `text` has been handled.

    `App.notify` only posts a message, handled a moment later than a state set in the same call,
    so tests wait for this (`await wait_for(pilot, lambda: notified(app, ...))`).
    """
    return any(text in notice for notice in notices(app))
