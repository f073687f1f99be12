"""The Engine: a loaded model and the requests it serves (candidates streamed, cancellable,
prefix-cached; the k most likely next tokens).

A request is checked here, its prompt assembled (writer.engine.story) and its logits processors
built (writer.engine.sampling); writer.engine.decode runs the batched decode loop over the back
end (writer.engine.gpt2.backends). Loading a model into an Engine is writer.engine.loading.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import torch

from writer.engine.decode import DecodeLoop, Yielded, drive
from writer.engine.gpt2.backends import make_backend
from writer.engine.sampling.tokenprobs import TokenTexts, next_token_choices
from writer.engine.story import prompts
from writer.engine.story.context import StoryContext, assemble_context
from writer.engine.types import (
    DEFAULT_LOGPROBS,
    MAX_CANDIDATES,
    MAX_LOGPROBS,
    CancelSignal,
    Candidate,
    GenerationDone,
    GenerationEvent,
    TokenChoice,
    check_request,
)
from writer.errors import WriterError
from writer.presets import SamplingParams

if TYPE_CHECKING:
    from transformers import LogitsProcessorList

    from writer.engine.sampling.tokentable import TokenTable


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
        min_tokens: int = 0,
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
            min_tokens=min_tokens,
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
        min_tokens: int = 0,
    ) -> Iterator[GenerationEvent]:
        """Yield TokenDelta events as tokens arrive, CandidateDone as each candidate ends, and
        GenerationDone last. Candidate i uses seed `seed + i`; a random seed is chosen when
        `seed` is None (and reported in GenerationDone.seed).

        With `context` (memory, author's note, lorebook) the prompt is assembled by
        `writer.engine.story.context.assemble_context` and GenerationDone.context has its breakdown;
        `prompt_ids` (already assembled, e.g. by the app) are used as they are.

        `logprobs=k` records per-token probabilities with k alternatives (writer.engine.types
        .TokenLogprobs) on every candidate and delta; None records nothing. `min_tokens`:
        no candidate ends (end of text) before that many tokens (vLLM's `min_tokens`; its
        `ignore_eos` is `min_tokens=max_new_tokens`).
        """
        steps = self.steps(
            prompt,
            params,
            n,
            seed,
            mode,
            cancel,
            context=context,
            prompt_ids=prompt_ids,
            logprobs=logprobs,
            min_tokens=min_tokens,
        )
        with self._lock:
            try:
                yield from drive(steps)
            finally:
                end = getattr(self.backend, "end_request", None)
                if end is not None:
                    end()
                release_free_memory()

    def steps(
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
        min_tokens: int = 0,
        piece: int = 0,
    ) -> Generator[Yielded, Any, None]:
        """A checked request as a generator of its events and of the model steps it needs
        (writer.engine.decode.Step): what `stream` drives alone under the engine's lock and a
        batching scheduler (writer.engine.batching) drives together with others. Bad
        arguments raise here, before anything runs. `piece`: compute the prompt that many
        tokens at a time (0: in one go)."""
        seed = check_request(params, n, seed, mode)
        self._check_prompt(context, prompt_ids)
        _check_logprobs(logprobs, "logprobs")
        if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or min_tokens < 0:
            raise WriterError(f"min_tokens must be a whole number, 0 or more; got {min_tokens!r}")
        return self._run(
            prompt,
            params,
            n,
            int(seed),
            mode,
            cancel,
            context,
            prompt_ids,
            logprobs,
            min_tokens,
            piece,
        )

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
        self,
        params: SamplingParams,
        prompt_length: int,
        mode: str,
        vocab: int,
        min_tokens: int = 0,
    ) -> tuple[LogitsProcessorList, TokenTable | None]:
        # Here, not at import: the samplers build on transformers' processors, whose import
        # (~0.5 s) a plain GPT-2 folder's load does not otherwise need (see `prepare`).
        from writer.engine.sampling.processors import build_processors
        from writer.engine.sampling.tokentable import token_table

        needs_table = params.ban or params.bias or params.dry_multiplier > 0
        table = token_table(self.tokenizer, vocab) if needs_table else None
        processors = build_processors(
            params,
            prompt_length=prompt_length,
            min_new_tokens=max(min_tokens, 3 if mode == "ideas" else 0),
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
        min_tokens: int = 0,
        piece: int = 0,
    ) -> Generator[Yielded, Any, None]:
        start = time.perf_counter()
        built, breakdown, max_new = self._prompt(prompt, params, mode, context, prompt_ids)

        def make_processors(vocab: int) -> tuple[LogitsProcessorList, TokenTable | None]:
            return self._processors(params, len(built.ids), mode, vocab, min_tokens)

        # Built per request from the engine's current parts (a test may swap `backend`).
        loop = DecodeLoop(
            self.backend, self.tokenizer, self.eos_token_id, self._texts, self.device, piece
        )
        yield from loop.run(
            prompt,
            built,
            breakdown,
            max_new,
            params,
            n,
            seed,
            mode,
            cancel,
            logprobs,
            make_processors,
            start,
        )
