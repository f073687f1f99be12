"""Candidates for a prompt: one batched pass, streamed, cancellable, prefix-cached.

The loop, one step per token (nanoGPT's `generate`, batched over candidates):
 1. the prompt is prefilled once (only its new tokens if the engine saw its prefix before);
    all candidates start from that single copy of its keys and values;
 2. the next-token logits of every live candidate go through transformers' logits processors
    (repetition penalty, temperature, top-k, top-p), exactly as `model.generate` applies them;
 3. each candidate draws its token from its own seeded generator (argmax when greedy);
 4. each candidate's text is decoded and checked against the stop rule; finished candidates
    leave the batch, so the rest run faster;
 5. the new tokens run through the model to give the next logits.
Events are yielded between 3 and 5, so the first token reaches the caller before more work,
and cancellation (checked every step) takes effect within one token.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from writer.engine import prompts
from writer.engine.backends import make_backend
from writer.engine.sampling import build_processors, choose_tokens
from writer.engine.stops import find_stop, safe_length
from writer.engine.types import (
    MAX_CANDIDATES,
    MAX_SEED,
    MODES,
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationEvent,
    GenerationStats,
    TokenDelta,
)
from writer.errors import WriterError
from writer.presets import SamplingParams

CancelSignal = threading.Event | Callable[[], bool] | None


def default_threads() -> int:
    """Torch intra-op threads: WRITER_THREADS if set, else every core this process may use."""
    env = os.environ.get("WRITER_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise WriterError(f"WRITER_THREADS must be a whole number; got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc keeps it otherwise).

    A request allocates and frees tens of MB of activations and a repack frees whole matrices;
    without this the process's resident size only ratchets up (measured: 1.43 GB instead of
    1.03 GB with GPT-2 small after a 4 x 64 request).
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _is_cancelled(cancel: CancelSignal) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class _Row:
    """Book-keeping for one candidate while it is generated."""

    def __init__(self, index: int, seed: int) -> None:
        self.index = index
        self.seed = seed
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.text = ""
        self.emitted = 0
        self.done: Candidate | None = None


class Engine:
    """A loaded model plus the means to sample candidates from it.

    One request runs at a time (a lock serialises callers); the app runs requests in a worker.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "model",
        device: str = "cpu",
        precision: str = "fp32",
        owns_model: bool = False,
    ) -> None:
        """Wrap a loaded model. With `owns_model` (as `load_engine` does) the engine may repack
        the model's weights for speed; the model then serves inference only, not training."""
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.backend = make_backend(model, owns_model, int8=precision == "int8")
        runner = getattr(self.backend, "runner", None)
        if precision == "int8" and not getattr(runner, "int8", False):
            precision = "fp32"  # a model only transformers runs keeps its float32 weights
        self.precision = precision
        if owns_model:
            release_free_memory()
        self.context_size = self.backend.context_size
        eos = tokenizer.eos_token_id
        if eos is None:
            eos = getattr(getattr(model, "config", None), "eos_token_id", None)
        if eos is None:
            raise WriterError(f"model {name!r} has no end-of-text token; use a GPT-2 model")
        self.eos_token_id = int(eos)
        self._lock = threading.Lock()

    # -- cache ------------------------------------------------------------------------------

    def cache_info(self) -> dict[str, int]:
        """Prefix-cache entries and tokens held (bounded: one entry, one context window)."""
        return self.backend.cache_info()

    def clear_cache(self) -> None:
        self.backend.clear_cache()

    # -- requests ---------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        params: SamplingParams,
        n: int = 3,
        seed: int | None = None,
        mode: str = "continue",
        cancel: CancelSignal = None,
    ) -> list[Candidate]:
        """The n finished candidates for `prompt` (see `stream`)."""
        done: GenerationDone | None = None
        for event in self.stream(prompt, params, n=n, seed=seed, mode=mode, cancel=cancel):
            if isinstance(event, GenerationDone):
                done = event
        assert done is not None
        return done.candidates

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        n: int = 3,
        seed: int | None = None,
        mode: str = "continue",
        cancel: CancelSignal = None,
    ) -> Iterator[GenerationEvent]:
        """Yield TokenDelta events as tokens arrive, CandidateDone as each candidate ends, and
        GenerationDone last. Candidate i uses seed `seed + i`; a random seed is chosen when
        `seed` is None (and reported in GenerationDone.seed)."""
        if mode not in MODES:
            raise WriterError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        if not isinstance(n, int) or not 1 <= n <= MAX_CANDIDATES:
            raise WriterError(f"n must be 1 to {MAX_CANDIDATES} candidates; got {n!r}")
        if not isinstance(params, SamplingParams):
            raise TypeError("params must be a SamplingParams")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
        ):
            raise WriterError(f"seed must be a whole number from 0 to {MAX_SEED}; got {seed!r}")
        if seed is None:
            seed = secrets.randbelow(2**31)
        with self._lock:
            try:
                yield from self._run(prompt, params, n, int(seed), mode, cancel)
            finally:
                release_free_memory()

    def _run(
        self,
        prompt: str,
        params: SamplingParams,
        n: int,
        seed: int,
        mode: str,
        cancel: CancelSignal,
    ) -> Iterator[GenerationEvent]:
        start = time.perf_counter()
        max_new = min(params.max_new_tokens, self.context_size - 1)
        built = prompts.build_prompt(self.tokenizer, prompt, mode, self.context_size, max_new)
        stop = "sentence" if mode == "ideas" else params.stop
        # An idea streams as generated; its final text is tidied to one clean line.
        tidy = prompts.clean_idea if mode == "ideas" else None
        # Greedy candidates are all the same: compute one and copy it.
        rows_n = 1 if params.greedy else n
        rows = [_Row(i, seed + i) for i in range(rows_n)]
        processors = build_processors(
            params,
            prompt_length=len(built.ids),
            min_new_tokens=3 if mode == "ideas" else 0,
            eos_token_id=self.eos_token_id,
            device=self.device,
        )
        generators = []
        for row in rows:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(row.seed)
            generators.append(gen)

        session = self.backend.begin(built.ids, rows_n, max_new)
        input_ids = torch.tensor([built.ids] * rows_n, dtype=torch.long, device=self.device)
        logits = session.first_logits.unsqueeze(0).expand(rows_n, -1)
        active = list(range(rows_n))  # indices into `rows`, in batch order
        first_token_s = 0.0
        new_tokens = 0
        cancelled = False
        for step in range(max_new):
            scores = processors(input_ids, logits.clone())
            tokens = choose_tokens(scores, params.greedy, [generators[r] for r in active])
            logprobs = torch.log_softmax(logits, dim=-1).gather(1, tokens[:, None])[:, 0]
            if step == 0:
                first_token_s = time.perf_counter() - start
            new_tokens += len(active)
            events, finished = self._advance(
                rows,
                active,
                tokens.tolist(),
                logprobs.tolist(),
                stop,
                step + 1 == max_new,
                tidy,
            )
            yield from events
            if _is_cancelled(cancel):
                cancelled = True
                break
            if finished:
                keep = [i for i, r in enumerate(active) if r not in finished]
                if not keep:
                    break
                index = torch.tensor(keep, device=self.device)
                session.keep(index)
                tokens, input_ids = tokens[index], input_ids[index]
                active = [active[i] for i in keep]
            if step + 1 == max_new:
                break
            input_ids = torch.cat([input_ids, tokens[:, None]], dim=1)
            logits = session.step(tokens)

        candidates = []
        for row in rows:
            if row.done is None:  # only when cancelled
                row.done = self._finish(row, "cancelled", len(row.text))
                if tidy is not None:
                    row.done = dataclasses.replace(row.done, text=tidy(row.done.text))
            candidates.append(row.done)
        if params.greedy and n > 1:
            first = candidates[0]
            candidates = [
                Candidate(
                    first.text,
                    first.tokens,
                    first.logprob,
                    seed,
                    i,
                    first.finish_reason,
                    first.token_ids,
                )
                for i in range(n)
            ]
        stats = GenerationStats(
            prompt_tokens=len(built.ids),
            reused_tokens=session.reused,
            new_tokens=new_tokens,
            first_token_s=first_token_s,
            total_s=time.perf_counter() - start,
        )
        yield GenerationDone(candidates, stats, cancelled, seed, prompt)

    def _advance(
        self,
        rows: list[_Row],
        active: list[int],
        tokens: list[int],
        logprobs: list[float],
        stop: str | tuple[str, ...],
        last_step: bool,
        tidy: Callable[[str], str] | None = None,
    ) -> tuple[list[GenerationEvent], set[int]]:
        """Add one token to each active row; return the events and the rows that finished."""
        events: list[GenerationEvent] = []
        finished: set[int] = set()
        for r, token, logprob in zip(active, tokens, logprobs, strict=True):
            row = rows[r]
            reason = None
            cut = None
            if token == self.eos_token_id:
                reason, cut = "eos", len(row.text)
            else:
                row.ids.append(token)
                row.logprobs.append(logprob)
                row.text = self.tokenizer.decode(
                    row.ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
                )
                cut = find_stop(row.text, stop)
                if cut is not None:
                    reason = "stop"
                elif last_step:
                    reason, cut = "length", len(row.text)
            if reason is None:
                safe = safe_length(row.text, stop)
                if safe > row.emitted:
                    events.append(TokenDelta(row.index, row.text[row.emitted : safe]))
                    row.emitted = safe
                continue
            row.done = self._finish(row, reason, cut)
            if len(row.done.text) > row.emitted:
                events.append(TokenDelta(row.index, row.done.text[row.emitted :]))
                row.emitted = len(row.done.text)
            if tidy is not None:
                row.done = dataclasses.replace(row.done, text=tidy(row.done.text))
            events.append(CandidateDone(row.index, row.done))
            finished.add(r)
        return events, finished

    def _finish(self, row: _Row, reason: str, cut: int) -> Candidate:
        text = row.text[:cut].rstrip("\ufffd")
        kept = self._tokens_covering(row.ids, len(text)) if cut < len(row.text) else len(row.ids)
        logprob = sum(row.logprobs[:kept]) / kept if kept else 0.0
        return Candidate(
            text,
            kept,
            logprob,
            row.seed,
            row.index,
            reason,
            tuple(row.ids[:kept]),  # type: ignore[arg-type]
        )

    def _tokens_covering(self, ids: list[int], length: int) -> int:
        """The fewest leading tokens whose decoded text reaches `length` characters."""
        for k in range(1, len(ids) + 1):
            text = self.tokenizer.decode(
                ids[:k], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
            if len(text) >= length:
                return k
        return len(ids)


PRECISIONS = ("auto", "fp32", "bf16", "int8")


def auto_precision(device: str) -> str:
    """The fastest precision that meets the quality bound (top-1 agreement with fp32 >= 99%,
    mean KL <= 0.01 nats, on a trained model: bench/peaked.py) on this device.

    CUDA with bf16: "bf16" (measured on an H100 with `python -m bench.gpu_check`: 99.07% top-1,
    mean KL 5e-5 over 4,096 held-out positions; W1 on GPT-2 XL 0.37 s against 0.62 s in fp32).
    CPU: "int8" wherever torch's fbgemm int8 kernel runs (x86), the fastest CPU path measured
    on both CPU kinds met (AMD EPYC with VNNI, Intel Xeon with AMX); its quality against fp32
    is measured by `python -m bench.cpu_quality` (see README). Elsewhere "fp32", the exact mode.
    """
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    if device == "cpu":
        from writer.engine.quant import int8_available

        if int8_available():
            return "int8"
    return "fp32"


def load_engine(
    name_or_path: str,
    device: str | None = None,
    *,
    precision: str = "auto",
    threads: int | None = None,
) -> Engine:
    """Load a model by hub id, folder or fine-tuned name and wrap it in an Engine.

    `precision` "fp32" (exactly the model's distribution), "bf16" (faster, slightly different
    numbers; see bench/ for its measured agreement), "int8" (CPU only: int8 weights, float32
    activations; fastest on x86 CPUs) or "auto" (default: `auto_precision`).
    `threads` sets torch's intra-op threads (default: `default_threads()`).

    Plain GPT-2 folders load through `writer.engine.weights` (no transformers model code,
    a second faster); anything else through transformers.
    """
    from writer.engine.models import (
        cached_snapshot,
        load_model_and_tokenizer,
        pick_device,
        resolve_model,
    )
    from writer.engine.weights import fast_loadable, load_checkpoint

    if precision not in PRECISIONS:
        raise WriterError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    torch.set_num_threads(threads or default_threads())
    if precision == "auto":
        device = pick_device(device)
        precision = auto_precision(device)
    if precision == "int8":
        from writer.engine.quant import int8_available

        device = pick_device(device)
        if device != "cpu" or not int8_available():
            raise WriterError(
                "precision int8 needs an x86 CPU (torch's fbgemm kernels); "
                "use --precision auto, fp32 or bf16"
            )
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    source = resolve_model(name_or_path)
    folder = None
    if source.kind == "folder" or (
        source.kind == "finetuned" and source.manifest.get("method", "full") == "full"
    ):
        folder = Path(source.location)
    elif source.kind == "hub":
        folder = cached_snapshot(source.location)
    config = fast_loadable(folder) if folder is not None else None
    if folder is not None and config is not None:
        device = pick_device(device)
        checkpoint, tokenizer = load_checkpoint(folder, config, device, dtype)
        return Engine(
            checkpoint,
            tokenizer,
            name=name_or_path,
            device=device,
            precision=precision,
            owns_model=True,
        )

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own status line reports loading
    model, tokenizer, source = load_model_and_tokenizer(name_or_path, device=device, dtype=dtype)
    return Engine(
        model,
        tokenizer,
        name=name_or_path,
        device=str(model.device),
        precision=precision,
        owns_model=True,
    )
