"""Prefill/decode back ends behind the engine's sampling loop.

`FastGPT2Backend` runs GPT-2-family models through `GPT2Runner` with a prompt-prefix cache kept
across requests; `TransformersBackend` runs any other causal LM through its own forward and
transformers' DynamicCache (correct, slower, no cross-request cache).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any, Protocol

import torch

from writer.engine.gpt2.contention import CpuProbe
from writer.engine.gpt2.cuda_graphs import CudaGraphSession, graphs_available
from writer.engine.gpt2.kv import PrefixKV
from writer.engine.gpt2.runner import GPT2Runner


class DecodeSession(Protocol):
    first_logits: torch.Tensor  # [vocab], float32: the distribution of the first new token
    reused: int  # prompt tokens served from the prefix cache

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per active row; return next-token logits [rows, vocab] (float32)."""

    def keep(self, rows: torch.Tensor) -> None:
        """Drop finished rows: keep only `rows` (indices into the current rows)."""

    # Optional: `rewind(row, length)` rolls one row back to `length` generated tokens, so
    # the next `step` feeds it at that position. Sessions without it get phrase bans enforced
    # by masking only (no backtracking).


class ThreadGovernor:
    """Runs torch on fewer threads while another program holds a core, and on all when not.

    Why: with 2 threads on 2 cores and another program busy on one of them, every parallel
    region waits for the thread that has no core, and a decode step takes 5-10x longer than
    with one thread (measured: a 3 x 60 request in 30-38 s instead of 3.5-4.8 s). Leaving a
    core free always would cost a quiet machine a third of its speed.

    Where Linux's /proc can be read (contention.py) the governor asks the kernel: at a
    request's start, if other processes used at least `BUSY_CORES` of this process's cores
    since the last request, it starts on the cores left (one, on two cores); after each whole
    prompt piece and every `CHECK_EVERY` decode steps, threads that waited for a core more
    than `STARVED_WAIT` of their time mean one thread fewer is faster (measured on a 2-core
    AMD EPYC: 42% waiting with two threads beside a busy loop, 4% with one, and one thread
    faster beside a busy loop and beside a memory-copy loop alike), and on fewer threads a
    window where others used under `FREE_CORES` gives the threads back.

    Elsewhere each decode step is timed: the fastest step seen with one thread is the
    yardstick (learnt from one probe step per request while unknown), and when two steps in
    a row with all threads are slower than it, the rest run with one thread. Every
    `PROBE_EVERY` steps one step tries all threads again and keeps them if it beats the
    yardstick.
    """

    PROBE_EVERY = 16
    CHECK_EVERY = 8
    BUSY_CORES = 0.5
    FREE_CORES = 0.35
    STARVED_WAIT = 0.2
    enabled = True  # bench turns this off to show what it prevents

    def __init__(self, probe: CpuProbe | None | bool = True) -> None:
        self.full = torch.get_num_threads()
        self.current = self.full
        self.best: dict[tuple[int, int], float] = {}  # (threads, rows) -> fastest step, s
        self.slow_steps = 0
        self.steps_at_one = 0
        self.calibrating = False
        self.probing = False
        self.drops = 0  # times it fell back to one thread (read by bench)
        self.probe = CpuProbe.create() if probe is True else (probe or None)
        self._mark = self.probe.sample() if self.probe is not None else None
        self._window = self._mark
        self._window_steps = 0

    def begin(self) -> None:
        """At a request's start: adopt a thread count set from outside since the last one,
        and start on the cores other programs have left (when the kernel says)."""
        now = torch.get_num_threads()
        if now != self.current:
            self.full = self.current = now
        self.slow_steps = 0
        if self.probe is None:
            return
        sample = self.probe.sample()
        if self._mark is not None and self.enabled and self.full > 1:
            others = self.probe.others(self._mark, sample)
            if others is not None and others >= self.BUSY_CORES:
                left = max(1, min(self.full, round(len(self.probe.cores) - others)))
                if left < self.current:
                    self.drops += 1
                    self._set(left)
        if self._mark is None or sample.at - self._mark.at >= 0.2:
            self._mark = sample
        self._window, self._window_steps = sample, 0

    def end(self) -> None:
        """At a request's end: give torch back its full thread count, so what runs next (a
        fine-tune's training step, the next request) is not left on one thread by this one."""
        if self.current != self.full:
            self._set(self.full)
        if self.probe is not None:
            self._mark = self.probe.sample()  # the next request's look back starts here

    def _set(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self.current = threads

    def _check_window(self, threads: int) -> None:
        """Kernel-read decision over the steps or piece since the window began."""
        assert self.probe is not None and self._window is not None
        now = self.probe.sample()
        if threads == self.current == self.full and threads > 1:
            waited = self.probe.waiting(self._window, now, threads)
            if waited is not None and waited > self.STARVED_WAIT:
                self.drops += 1
                self._set(max(1, threads - 1))
        elif self.current < self.full:
            others = self.probe.others(self._window, now)
            if others is None:
                return  # too short to tell: keep the window open
            if others < self.FREE_CORES:
                self._set(self.full)
        self._window, self._window_steps = now, 0

    def before_piece(self) -> None:
        """Before a whole int8 prompt piece: its window starts here."""
        if self.probe is not None:
            self._window, self._window_steps = self.probe.sample(), 0

    def before_step(self, rows: int, step: int) -> int:
        """Choose (and set) the thread count for decode step `step`; returns it."""
        if not self.enabled or self.full <= 1 or self.probe is not None:
            return self.current
        if self.current == self.full and (1, rows) not in self.best and step == 2:
            self.calibrating = True  # learn the one-thread yardstick on this one step
            self._set(1)
        elif self.current == 1:
            self.steps_at_one += 1
            if self.steps_at_one >= self.PROBE_EVERY:
                self.steps_at_one = 0
                self.probing = True
                self._set(self.full)
        return self.current

    # A whole prompt piece this many times slower than the fastest one seen with all threads
    # is a starved pool: measured here, pieces differ by up to ~1.3x with the prompt's length
    # on a quiet machine, and were 2.6x slower with two threads under a hog.
    STARVED_PIECE = 1.8

    def after_piece(self, threads: int, seconds: float) -> None:
        """Time of one whole int8 prompt piece (backends time prompts piece by piece). With
        the kernel's counts, one starved piece moves the rest to fewer threads; by timing,
        two in a row far slower than the fastest. No one-thread probe here: it would cost
        every process's first prompt a slow piece."""
        if not self.enabled or self.full <= 1:
            return
        if self.probe is not None:
            self._check_window(threads)
            return
        if threads != self.full:
            return
        best = self.best.get((threads, 0))
        self.best[(threads, 0)] = seconds if best is None else min(best, seconds)
        if best is not None and seconds > self.STARVED_PIECE * best:
            self.slow_steps += 1
            if self.slow_steps >= 2:
                self.slow_steps = 0
                self.drops += 1
                self._set(1)
        else:
            self.slow_steps = 0

    def after_step(self, rows: int, threads: int, seconds: float) -> None:
        key = (threads, rows)
        self.best[key] = min(self.best.get(key, seconds), seconds)
        if not self.enabled or self.full <= 1:
            return
        if self.probe is not None:
            self._window_steps += 1
            if self._window_steps >= self.CHECK_EVERY:
                self._check_window(threads)
            return
        if self.calibrating:
            self.calibrating = False
            self._set(self.full)
            return
        one = self.best.get((1, rows))
        if threads != self.full or one is None:
            return
        if seconds > one:
            self.slow_steps += 1
            if self.probing or self.slow_steps >= 2:
                self.slow_steps = 0
                self.drops += 1
                self._set(1)
        else:
            self.slow_steps = 0
        self.probing = False


class FastGPT2Backend:
    """GPT2Runner plus a one-entry prefix cache: the last prompt's keys/values and logits.

    One entry is enough for an author's session (the story grows at its end; regenerating
    repeats the same prompt) and keeps memory bounded: at most one context window of KV.
    """

    def __init__(self, runner: GPT2Runner) -> None:
        self.runner = runner
        self.context_size = self.runner.n_positions
        self._ids: list[int] = []
        self._kv: PrefixKV | None = None
        self._last_logits: torch.Tensor | None = None
        self.governor = ThreadGovernor()

    def cache_info(self) -> dict[str, int]:
        return {"entries": 0 if self._kv is None else 1, "tokens": len(self._ids)}

    def end_request(self) -> None:
        self.governor.end()

    def clear_cache(self) -> None:
        self._ids, self._kv, self._last_logits = [], None, None

    def begin(self, ids: list[int], batch: int, capacity: int) -> _FastSession | CudaGraphSession:
        self.governor.begin()
        kv, logits, reused = self._prefill(ids)
        if graphs_available(self.runner.device):
            return CudaGraphSession(self.runner, kv, logits, reused, batch, capacity)
        return _FastSession(self.runner, kv, logits, reused, batch, capacity, self.governor)

    def begin_in_pieces(
        self, ids: list[int], batch: int, capacity: int, piece: int
    ) -> Generator[None, None, _FastSession | CudaGraphSession]:
        """`begin` with the prompt computed at most `piece` tokens at a time, yielding None
        between pieces (a batching scheduler decodes other requests meanwhile); returns the
        session. Pieces end at multiples of `piece` positions and, in int8, of
        `GPT2Runner.chunk` (so the numbers are those `begin` gives); the prefix cache is used
        and filled as `begin` does."""
        self.governor.begin()
        common = self._common(ids)
        if common == len(ids) and common == len(self._ids) and self._last_logits is not None:
            kv, logits, reused = self._kv, self._last_logits, common
        else:
            common = min(common, len(ids) - 1)
            chunk = self.runner.chunk
            if chunk:
                common -= common % chunk
                piece = max(chunk, piece - piece % chunk)
            kv = self._kv.cropped(common) if (self._kv is not None and common) else None
            device = self.runner.device
            start, logits = common, None
            while start < len(ids):
                end = min(len(ids), (start // piece + 1) * piece)
                new = torch.tensor(ids[start:end], dtype=torch.long, device=device)
                logits, kv = self.runner.prefill(new, kv)
                start = end
                if start < len(ids):
                    yield None
            reused = common
            self._ids, self._kv, self._last_logits = list(ids), kv, logits
        assert kv is not None and logits is not None
        if graphs_available(self.runner.device):
            return CudaGraphSession(self.runner, kv, logits, reused, batch, capacity)
        return _FastSession(self.runner, kv, logits, reused, batch, capacity, self.governor)

    def prompt_logits(self, ids: list[int]) -> torch.Tensor:
        """The next-token logits [vocab] after `ids`, through (and into) the prefix cache."""
        return self._prefill(ids)[1]

    def _common(self, ids: list[int]) -> int:
        common = 0
        for a, b in zip(self._ids, ids, strict=False):
            if a != b:
                break
            common += 1
        return common

    def _prefill(self, ids: list[int]) -> tuple[PrefixKV, torch.Tensor, int]:
        common = self._common(ids)
        if common == len(ids) and common == len(self._ids) and self._last_logits is not None:
            kv, logits, reused = self._kv, self._last_logits, common
        else:
            # At least one token must run to produce logits for the next position.
            common = min(common, len(ids) - 1)
            if self.runner.chunk:  # reuse only whole pieces (GPT2Runner.chunk says why)
                common -= common % self.runner.chunk
            prefix = self._kv.cropped(common) if (self._kv is not None and common) else None
            logits, kv = self._run_prompt(ids, common, prefix)
            reused = common
            self._ids, self._kv, self._last_logits = list(ids), kv, logits
        assert kv is not None
        return kv, logits, reused

    def _run_prompt(
        self, ids: list[int], start: int, prefix: PrefixKV | None
    ) -> tuple[torch.Tensor, PrefixKV]:
        """Compute `ids[start:]` after `prefix`; in int8 piece by piece (GPT2Runner.chunk),
        each whole piece timed by the thread governor (`after_piece`): under a CPU hog a
        512-token prompt took 0.64 s with two threads against 0.42 s with one."""
        device = self.runner.device
        chunk = self.runner.chunk
        if not chunk or device.type != "cpu":
            new = torch.tensor(ids[start:], dtype=torch.long, device=device)
            return self.runner.prefill(new, prefix)
        kv, logits = prefix, None
        new = ids[start:]
        for begin, end in self.runner.pieces(start, len(new)):
            piece = torch.tensor(new[begin:end], dtype=torch.long, device=device)
            if end - begin < chunk:  # a part piece: its time says nothing about the machine
                logits, kv = self.runner.prefill(piece, kv)
            else:
                threads = self.governor.current
                self.governor.before_piece()
                began = time.perf_counter()
                logits, kv = self.runner.prefill(piece, kv)
                self.governor.after_piece(threads, time.perf_counter() - began)
        assert logits is not None and kv is not None
        return logits, kv


class _FastSession:
    def __init__(
        self,
        runner: GPT2Runner,
        prefix: PrefixKV,
        logits: torch.Tensor,
        reused: int,
        batch: int,
        capacity: int,
        governor: ThreadGovernor | None = None,
    ) -> None:
        self.runner = runner
        self.prefix = prefix
        self.first_logits = logits
        self.reused = reused
        self.suffix = runner.new_suffix(batch, capacity)
        self.governor = governor
        self.steps = 0

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.steps += 1
        if self.governor is None:
            return self.runner.decode(tokens, self.prefix, self.suffix)
        rows = tokens.shape[0]
        threads = self.governor.before_step(rows, self.steps)
        start = time.perf_counter()
        logits = self.runner.decode(tokens, self.prefix, self.suffix)
        self.governor.after_step(rows, threads, time.perf_counter() - start)
        return logits

    def keep(self, rows: torch.Tensor) -> None:
        self.suffix.select(rows)

    def rewind(self, row: int, length: int) -> None:
        """Roll row `row` back to `length` generated tokens (phrase bans backtrack with it)."""
        self.suffix.rewind(row, length)


class TransformersBackend:
    """Any causal LM through transformers' forward and DynamicCache."""

    def __init__(self, model: Any) -> None:
        self.model = model
        config = model.config
        self.context_size = int(
            getattr(config, "n_positions", None)
            or getattr(config, "max_position_embeddings", None)
            or 1024
        )

    def cache_info(self) -> dict[str, int]:
        return {"entries": 0, "tokens": 0}

    def clear_cache(self) -> None:
        pass

    def begin(self, ids: list[int], batch: int, capacity: int) -> _TransformersSession:
        return _TransformersSession(self.model, ids, batch)

    def prompt_logits(self, ids: list[int]) -> torch.Tensor:
        """The next-token logits [vocab] after `ids` (one forward, no cache kept)."""
        with torch.inference_mode():
            out = self.model(torch.tensor([ids], device=self.model.device), logits_to_keep=1)
        return out.logits[0, -1].float()


def _cache_keyword(model: Any) -> str:
    """transformers 5.x renamed `past_key_values` to `cache` in forward(); accept both."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class _TransformersSession:
    def __init__(self, model: Any, ids: list[int], batch: int) -> None:
        from transformers import DynamicCache

        self.model = model
        self.cache_kw = _cache_keyword(model)
        device = model.device
        cache = DynamicCache(config=model.config)
        with torch.inference_mode():
            out = model(
                torch.tensor([ids], device=device),
                use_cache=True,
                logits_to_keep=1,
                **{self.cache_kw: cache},
            )
        cache.batch_repeat_interleave(batch)
        self.cache = cache
        self.first_logits = out.logits[0, -1].float()
        self.reused = 0

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(tokens[:, None], use_cache=True, **{self.cache_kw: self.cache})
        return out.logits[:, -1].float()

    def keep(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)


def make_backend(
    model: Any, owns_model: bool = False, int8: bool = False
) -> FastGPT2Backend | TransformersBackend:
    """The fast back end for GPT-2-family models, transformers' forward for anything else.

    `owns_model`: the engine loaded the model for inference only, so its weights may be
    repacked in place (see GPT2Runner); with `int8` too, as int8 (the "int8" precision).
    """
    from writer.engine.gpt2.weights import GPT2Checkpoint

    if isinstance(model, GPT2Checkpoint):
        return FastGPT2Backend(model.build_runner(int8=int8))
    if GPT2Runner.supports(model):
        return FastGPT2Backend(GPT2Runner.from_model(model, owns_model=owns_model, int8=int8))
    return TransformersBackend(model)
