"""Candidates for a prompt: one batched pass, streamed, cancellable, prefix-cached.

The loop, one step per token (nanoGPT's `generate`, batched over candidates):
 1. the prompt is prefilled once (only its new tokens if the engine saw its prefix before);
    all candidates start from that single copy of its keys and values;
 2. the next-token logits of every live candidate go through transformers' logits processors
    (phrase bias, repetition penalty, DRY, temperature, top-k, top-p, min-p, typical-p), exactly
    as `model.generate` applies them, after the tokens banned at this position are masked;
 3. each candidate draws its token from its own seeded generator (argmax when greedy); a token
    that completes a banned phrase is not kept: the candidate goes back to the token where the
    phrase began, bans it there, and its next step re-runs from that position (its KV rows
    are rewound; the other candidates carry on, so rows may differ in length);
 4. each candidate's text is decoded and checked against the stop rule; finished candidates
    leave the batch, so the rest run faster;
 5. the new tokens run through the model to give the next logits.
Events are yielded between 3 and 5, so the first token reaches the caller before more work,
and cancellation (checked every step) takes effect within one token.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from writer.engine.gpt2.backends import make_backend
from writer.engine.sampling.stops import find_stop, safe_length
from writer.engine.sampling.tokenprobs import (
    StepRecord,
    TokenTexts,
    next_token_choices,
    pieces,
    record_step,
    token_logprobs,
)
from writer.engine.story import prompts
from writer.engine.story.context import StoryContext, assemble_context
from writer.engine.types import (
    DEFAULT_LOGPROBS,
    MAX_CANDIDATES,
    MAX_LOGPROBS,
    CancelSignal,
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationEvent,
    GenerationStats,
    TokenChoice,
    TokenDelta,
    TokenLogprobs,
    check_request,
)
from writer.errors import WriterError
from writer.presets import SamplingParams

if TYPE_CHECKING:
    from transformers import LogitsProcessorList

    from writer.engine.sampling.phrases import TokenTable


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


def _check_logprobs(k: int | None, name: str) -> None:
    if k is None and name == "logprobs":
        return
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_LOGPROBS:
        raise WriterError(f"{name} must be 0 to {MAX_LOGPROBS} alternatives per token; got {k!r}")


def _forget_records(row: _Row, position: int) -> None:
    """A rolled-back row loses its tokens from `position` on, and their records with them."""
    if row.records is not None:
        del row.records[position:], row.offsets[position:]
        row.sent = min(row.sent, position)


def _is_cancelled(cancel: CancelSignal) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class _Row:
    """Book-keeping for one candidate while it is generated."""

    def __init__(self, index: int, seed: int, recording: bool = False) -> None:
        self.index = index
        self.seed = seed
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        # With `logprobs=k`: each token's record, where its text ends, tokens streamed so far.
        self.records: list[StepRecord] | None = [] if recording else None
        self.offsets: list[int] = []
        self.sent = 0
        self.text = ""
        self.emitted = 0
        self.done: Candidate | None = None
        # Phrase bans: tokens banned per position, the text's lower-case bytes and each token's
        # end offset in them, rollbacks so far and whether backtracking gave way to masking.
        self.bans: dict[int, set[int]] = {}
        self.lower = b""
        self.ends: list[int] = []
        self.rollbacks = 0
        self.discarded = 0
        self.guard = False


class Engine:
    """A loaded model plus the means to sample candidates from it (writer.engine.types.Engine).

    One request runs at a time (a lock serialises callers); the app runs requests in a worker.
    """

    supports_logprobs = True
    supports_prefix_cache = True
    max_candidates = MAX_CANDIDATES

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
        self._texts = TokenTexts(tokenizer)

    # -- cache ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Import what the first request needs (the samplers, built on transformers: ~0.5 s)
        ahead of it: the app calls this after showing the model as ready."""
        import writer.engine.sampling.phrases
        import writer.engine.sampling.processors  # noqa: F401

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
        *,
        context: StoryContext | None = None,
        prompt_ids: list[int] | None = None,
        logprobs: int | None = None,
    ) -> list[Candidate]:
        """The n finished candidates for `prompt` (see `stream`)."""
        done: GenerationDone | None = None
        events = self.stream(
            prompt,
            params,
            n=n,
            seed=seed,
            mode=mode,
            cancel=cancel,
            context=context,
            prompt_ids=prompt_ids,
            logprobs=logprobs,
        )
        for event in events:
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
        *,
        context: StoryContext | None = None,
        prompt_ids: list[int] | None = None,
        logprobs: int | None = None,
    ) -> Iterator[GenerationEvent]:
        """Yield TokenDelta events as tokens arrive, CandidateDone as each candidate ends, and
        GenerationDone last. Candidate i uses seed `seed + i`; a random seed is chosen when
        `seed` is None (and reported in GenerationDone.seed).

        With `context` (memory, author's note, lorebook) the prompt is assembled by
        `writer.engine.story.context.assemble_context` and GenerationDone.context has its breakdown;
        `prompt_ids` (already assembled, e.g. by the app) are used as they are.

        `logprobs=k` records per-token probabilities with k alternatives (writer.engine.types
        .TokenLogprobs) on every candidate and delta; None records nothing.
        """
        seed = check_request(params, n, seed, mode)
        self._check_prompt(context, prompt_ids)
        _check_logprobs(logprobs, "logprobs")
        with self._lock:
            try:
                yield from self._run(
                    prompt, params, n, int(seed), mode, cancel, context, prompt_ids, logprobs
                )
            finally:
                end = getattr(self.backend, "end_request", None)
                if end is not None:
                    end()
                release_free_memory()

    def next_tokens(
        self,
        text: str,
        params: SamplingParams,
        k: int = DEFAULT_LOGPROBS,
        *,
        context: StoryContext | None = None,
        prompt_ids: list[int] | None = None,
    ) -> list[TokenChoice]:
        """The k most likely tokens after `text` (framed as `stream` frames a continuation of
        it, so the numbers are those its first token is drawn from), most likely first, with
        their probabilities under the model and under `params`. Uses and fills the prefix
        cache: asking here and then generating from the same text prefills it once."""
        if not isinstance(params, SamplingParams):
            raise TypeError("params must be a SamplingParams")
        self._check_prompt(context, prompt_ids)
        _check_logprobs(k, "k")
        with self._lock:
            built, _, _ = self._prompt(text, params, "continue", context, prompt_ids)
            logits = self.backend.prompt_logits(built.ids)
            ids = torch.tensor([built.ids], dtype=torch.long, device=self.device)
            processors, _ = self._processors(params, len(built.ids), "continue", logits.shape[-1])
            from writer.engine.sampling.processors import apply_processors

            scores = apply_processors(processors, ids, len(built.ids), [0], logits[None])
            return next_token_choices(logits, scores[0], k, params.greedy, self._texts)

    def _check_prompt(self, context: StoryContext | None, prompt_ids: list[int] | None) -> None:
        if context is not None and not isinstance(context, StoryContext):
            raise TypeError("context must be a StoryContext")
        if prompt_ids is not None and (
            not prompt_ids or len(prompt_ids) >= self.context_size or context is not None
        ):
            raise WriterError(
                f"prompt_ids must be 1 to {self.context_size - 1} tokens, without a context"
            )

    def _prompt(
        self,
        prompt: str,
        params: SamplingParams,
        mode: str,
        context: StoryContext | None,
        prompt_ids: list[int] | None,
    ) -> tuple[prompts.Prompt, Any, int]:
        """The request's token ids, the context breakdown (or None) and its token budget."""
        max_new = min(params.max_new_tokens, self.context_size - 1)
        breakdown = None
        if prompt_ids is not None:
            built = prompts.Prompt(list(prompt_ids), 0)
            max_new = min(max_new, self.context_size - len(built.ids))
        elif context is not None:
            assembled = assemble_context(
                self.tokenizer, prompt, context, self.context_size, max_new, mode=mode
            )
            built, breakdown = prompts.Prompt(assembled.ids, 0), assembled.breakdown
        else:
            built = prompts.build_prompt(self.tokenizer, prompt, mode, self.context_size, max_new)
        return built, breakdown, max_new

    def _processors(
        self, params: SamplingParams, prompt_length: int, mode: str, vocab: int
    ) -> tuple[LogitsProcessorList, TokenTable | None]:
        # Here, not at import: the samplers build on transformers' processors, whose import
        # (~0.5 s) a plain GPT-2 folder's load does not otherwise need (see `prepare`).
        from writer.engine.sampling.phrases import token_table
        from writer.engine.sampling.processors import build_processors

        needs_table = params.ban or params.bias or params.dry_multiplier > 0
        table = token_table(self.tokenizer, vocab) if needs_table else None
        processors = build_processors(
            params,
            prompt_length=prompt_length,
            min_new_tokens=3 if mode == "ideas" else 0,
            eos_token_id=self.eos_token_id,
            device=self.device,
            table=table,
        )
        return processors, table

    def _run(
        self,
        prompt: str,
        params: SamplingParams,
        n: int,
        seed: int,
        mode: str,
        cancel: CancelSignal,
        context: StoryContext | None = None,
        prompt_ids: list[int] | None = None,
        logprobs: int | None = None,
    ) -> Iterator[GenerationEvent]:
        start = time.perf_counter()
        built, breakdown, max_new = self._prompt(prompt, params, mode, context, prompt_ids)
        stop = "sentence" if mode == "ideas" else params.stop
        # An idea streams as generated; its final text is tidied to one clean line.
        tidy = prompts.clean_idea if mode == "ideas" else None
        # Greedy candidates are all the same: compute one and copy it.
        rows_n = 1 if params.greedy else n
        rows = [_Row(i, seed + i, logprobs is not None) for i in range(rows_n)]
        generators = []
        for row in rows:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(row.seed)
            generators.append(gen)

        session = self.backend.begin(built.ids, rows_n, max_new)
        vocab = session.first_logits.shape[-1]
        processors, table = self._processors(params, len(built.ids), mode, vocab)
        from writer.engine.sampling.phrases import BanMatcher, BanTracker
        from writer.engine.sampling.processors import apply_processors, choose_tokens

        bans = None
        if params.ban and table is not None:
            bans = BanTracker(BanMatcher(table, params.ban), table, built.ids, max_new)
            if not hasattr(session, "rewind"):
                for row in rows:  # no backtracking here: mask completing tokens instead
                    row.guard = True
        p = len(built.ids)
        # Every row's prompt + generated ids; a row's own length says how much is live.
        history = torch.empty((rows_n, p + max_new), dtype=torch.long, device=self.device)
        history[:, :p] = torch.tensor(built.ids, dtype=torch.long, device=self.device)
        logits = session.first_logits.unsqueeze(0).expand(rows_n, -1)
        active = list(range(rows_n))  # indices into `rows`, in batch order
        first_token_s = 0.0
        new_tokens = 0
        cancelled = False
        while active:
            lengths = [len(rows[r].ids) for r in active]
            masked = bans.mask(logits, [rows[r] for r in active]) if bans else logits
            scores = apply_processors(processors, history, p, lengths, masked)
            tokens = choose_tokens(scores, params.greedy, [generators[r] for r in active])
            model_lp = torch.log_softmax(logits, dim=-1)
            chosen_lp = model_lp.gather(1, tokens[:, None])[:, 0]
            records = None
            if logprobs is not None:  # one top-k on this step's logits; nothing when not asked
                records = record_step(model_lp, scores, tokens, logprobs, params.greedy)
            if not new_tokens:
                first_token_s = time.perf_counter() - start
            new_tokens += len(active)
            chosen = tokens.tolist()
            # Rows that completed a banned phrase: rolled back to this position.
            rollback: dict[int, int] = {}
            if bans is not None:
                for b, r in enumerate(active):
                    if chosen[b] != self.eos_token_id:
                        position = bans.check(rows[r], chosen[b])
                        if position is not None:
                            rollback[b] = position
                            rows[r].text = self._decode(rows[r].ids)
                            _forget_records(rows[r], position)
            events, finished = self._advance(
                rows,
                active,
                chosen,
                chosen_lp.tolist(),
                stop,
                max_new,
                tidy,
                skip=rollback,
                hold=bans.safe_chars if bans else None,
                records=records,
            )
            yield from events
            if _is_cancelled(cancel):
                cancelled = True
                break
            feed = list(chosen)
            restart = []  # rows rolled back to their first token: the prompt's logits again
            for b, position in rollback.items():
                row = rows[active[b]]
                if position == 0:
                    session.rewind(b, 0)
                    feed[b] = self.eos_token_id  # a placeholder, forgotten after the step
                    restart.append(b)
                else:
                    session.rewind(b, position - 1)
                    feed[b] = row.ids[position - 1]
            if not rollback and len(set(lengths)) == 1:
                history[:, p + lengths[0]] = tokens  # every row took its token (the usual case)
            else:
                for b, r in enumerate(active):
                    if b not in rollback and rows[r].done is None:
                        history[b, p + len(rows[r].ids) - 1] = chosen[b]
            if finished:
                keep = [i for i, r in enumerate(active) if r not in finished]
                if not keep:
                    break
                index = torch.tensor(keep, device=self.device)
                session.keep(index)
                history = history[index]
                feed = [feed[i] for i in keep]
                restart = [keep.index(b) for b in restart if b in keep]
                active = [active[i] for i in keep]
            logits = session.step(torch.tensor(feed, dtype=torch.long, device=self.device))
            if restart:
                logits = logits.clone()
                for b in restart:
                    session.rewind(b, 0)
                    logits[b] = session.first_logits

        candidates = []
        for row in rows:
            if row.done is None:  # only when cancelled
                row.done = self._finish(row, "cancelled", len(row.text))
                if tidy is not None:
                    row.done = dataclasses.replace(row.done, text=tidy(row.done.text))
            candidates.append(row.done)
        if params.greedy and n > 1:
            first = candidates[0]
            candidates = [dataclasses.replace(first, seed=seed, index=i) for i in range(n)]
        stats = GenerationStats(
            prompt_tokens=len(built.ids),
            reused_tokens=session.reused,
            new_tokens=new_tokens,
            first_token_s=first_token_s,
            total_s=time.perf_counter() - start,
            rollbacks=sum(row.rollbacks for row in rows),
        )
        yield GenerationDone(candidates, stats, cancelled, seed, prompt, breakdown)

    def _advance(
        self,
        rows: list[_Row],
        active: list[int],
        tokens: list[int],
        logprobs: list[float],
        stop: str | tuple[str, ...],
        max_new: int,
        tidy: Callable[[str], str] | None = None,
        skip: Container[int] = (),
        hold: Callable[[_Row, Callable[[list[int]], str]], int] | None = None,
        records: list[StepRecord] | None = None,
    ) -> tuple[list[GenerationEvent], set[int]]:
        """Add one token to each active row; return the events and the rows that finished.

        Rows at batch positions in `skip` were rolled back this step and take no token; `hold`
        gives how much of a row's text may be shown (a banned phrase may still roll it back).
        """
        events: list[GenerationEvent] = []
        finished: set[int] = set()
        for b, (r, token, logprob) in enumerate(zip(active, tokens, logprobs, strict=True)):
            row = rows[r]
            if b in skip:
                continue
            reason = None
            cut = None
            if token == self.eos_token_id:
                reason, cut = "eos", len(row.text)
            else:
                row.ids.append(token)
                row.logprobs.append(logprob)
                row.text = self._decode(row.ids)
                if row.records is not None and records is not None:
                    row.records.append(records[b])
                    row.offsets.append(len(row.text.rstrip("\ufffd")))
                cut = find_stop(row.text, stop)
                if cut is not None:
                    reason = "stop"
                elif len(row.ids) >= max_new:
                    reason, cut = "length", len(row.text)
            if reason is None:
                safe = safe_length(row.text, stop)
                if hold is not None:
                    safe = min(safe, hold(row, self._decode))
                if safe > row.emitted:
                    piece = row.text[row.emitted : safe]
                    shown = self._streamed_tokens(row, safe)
                    events.append(TokenDelta(row.index, piece, token, logprob, shown))
                    row.emitted = safe
                continue
            row.done = self._finish(row, reason, cut)
            rest = row.done.token_logprobs[row.sent :]
            if len(row.done.text) > row.emitted or rest:
                piece = row.done.text[row.emitted :]
                events.append(TokenDelta(row.index, piece, token, logprob, rest))
                row.emitted = max(row.emitted, len(row.done.text))
            if tidy is not None:
                row.done = dataclasses.replace(row.done, text=tidy(row.done.text))
            events.append(CandidateDone(row.index, row.done))
            finished.add(r)
        return events, finished

    def _finish(self, row: _Row, reason: str, cut: int) -> Candidate:
        text = row.text[:cut].rstrip("\ufffd")
        kept = self._tokens_covering(row.ids, len(text)) if cut < len(row.text) else len(row.ids)
        logprob = sum(row.logprobs[:kept]) / kept if kept else 0.0
        infos: tuple[TokenLogprobs, ...] = ()
        if row.records is not None:
            shares = pieces(text, row.offsets, 0, kept)
            infos = tuple(
                token_logprobs(rec, share, self._texts)
                for rec, share in zip(row.records[:kept], shares, strict=True)
            )
        return Candidate(
            text,
            kept,
            logprob,
            row.seed,
            row.index,
            reason,
            tuple(row.ids[:kept]),  # type: ignore[arg-type]
            infos,
        )

    def _streamed_tokens(self, row: _Row, shown: int) -> tuple[TokenLogprobs, ...]:
        """The recorded tokens whose text now lies within the first `shown` characters."""
        if row.records is None:
            return ()
        end = row.sent
        while end < len(row.offsets) and row.offsets[end] <= shown:
            end += 1
        shares = pieces(row.text, row.offsets, row.sent, end)
        out = tuple(
            token_logprobs(row.records[i], share, self._texts)
            for i, share in zip(range(row.sent, end), shares, strict=True)
        )
        row.sent = end
        return out

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
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
    x86 CPUs (fbgemm): "int8", measured fastest on both CPU kinds met (README) and within the
    bound (`python -m bench.run --quality`); its candidates for a seed do not depend on the
    prefix cache, the other candidates or the thread count (quant.py, GPT2Runner.chunk).
    Elsewhere "fp32", the exact mode.
    """
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    if device == "cpu":
        from writer.engine.gpt2.quant import int8_available

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

    Plain GPT-2 folders load through `writer.engine.gpt2.weights` (no transformers model code,
    a second faster); anything else through transformers.
    """
    from writer.engine.gpt2.weights import fast_loadable, load_checkpoint
    from writer.engine.models import (
        cached_snapshot,
        load_model_and_tokenizer,
        pick_device,
        resolve_model,
    )

    if precision not in PRECISIONS:
        raise WriterError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    torch.set_num_threads(threads or default_threads())
    if precision == "auto":
        device = pick_device(device)
        precision = auto_precision(device)
    if precision == "int8":
        from writer.engine.gpt2.quant import int8_available

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
