"""The three ways to get candidates, each timed the same way on the same workload.

- `engine`: writer's Engine; the first token is the first event from `Engine.stream`.
- `plain`: `model.generate(num_return_sequences=n)` in fp32, the first token timed by a streamer
  (its first `put` is the prompt, the second the first new tokens).
- `ct2`: CTranslate2 int8, one prompt with n hypotheses; the first token is the first call of
  `generate_batch`'s per-token `callback`.

Every way starts its clock before tokenizing the prompt text and stops it when all candidates
are done, so tokenization is counted alike. Peak RSS is sampled by a thread during each run; it is
the whole process's RSS (all ways' models are loaded in this one process, as the issue asks for
one interleaved run), so compare its growth, not its level, between ways.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.workloads import Workload

TEMPERATURE = 0.8
TOP_K = 50


@dataclass
class Measurement:
    """One timed request."""

    way: str
    workload: str
    wall_s: float
    first_token_s: float
    rows: int  # candidates decoded together
    token_counts: list[int]  # new tokens per candidate
    peak_rss: int  # bytes, whole process, during the run
    reused_tokens: int | None = None  # engine only: prompt tokens served from the prefix cache
    notes: list[str] = field(default_factory=list)

    @property
    def new_tokens(self) -> int:
        return sum(self.token_counts)

    @property
    def decode_tps(self) -> float:
        """New tokens after the first step over the time after the first token."""
        after = self.wall_s - self.first_token_s
        return (self.new_tokens - self.rows) / after if after > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decode_tps"] = self.decode_tps
        return data


class PeakRSS:
    """Context manager: the highest RSS of this process seen while the block runs.

    A sampling thread (every `interval` s) rather than ru_maxrss, because ru_maxrss is a
    high-water mark for the whole process life and cannot be reset between ways.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> int:
        try:
            import psutil
        except ImportError:  # psutil is in the bench extra; fall back to the process peak
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return psutil.Process().memory_info().rss

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _length_notes(counts: list[int], want: int) -> list[str]:
    short = [c for c in counts if c != want]
    if short:
        n = len(short)
        return [f"{n} of {len(counts)} candidates not {want} tokens ({short}): eos sampled"]
    return []


# `--steer`: every steering sampler, on top of the workload's temperature and top-k, so
# the engine-steer way costs what an author using them all would pay per step.
STEER = {
    "min_p": 0.05,
    "typical_p": 0.95,
    "repetition_penalty": 1.07,
    "repetition_range": 256,
    "dry_multiplier": 0.8,
    "ban": ("all of a sudden", "shivers down", "little did"),
    "bias": (("the storm", 1.5), ("the king", -1.0)),
}


def run_engine(
    engine: Any,
    wl: Workload,
    seed: int,
    way: str = "engine",
    steer: bool = False,
    logprobs: int | None = None,
) -> Measurement:
    """Time `engine.stream` on `wl`; the caller clears or warms the prefix cache first.

    `steer`: with the steering samplers enabled (`STEER`); `logprobs`: recording per-token
    probabilities with that many alternatives."""
    from writer.engine.types import GenerationDone
    from writer.presets import SamplingParams

    params = SamplingParams(
        temperature=TEMPERATURE,
        top_k=TOP_K,
        top_p=1.0,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        max_new_tokens=wl.new_tokens,
        stop="none",
    )
    if steer:
        params = params.replace(**STEER)
    done = None
    first = None
    with PeakRSS() as rss:
        start = time.perf_counter()
        extra = {} if logprobs is None else {"logprobs": logprobs}
        for event in engine.stream(wl.prompt, params, n=wl.n, seed=seed, **extra):
            if first is None:
                first = time.perf_counter() - start
            if isinstance(event, GenerationDone):
                done = event
        wall = time.perf_counter() - start
    assert done is not None and first is not None
    counts = [c.tokens for c in done.candidates]
    notes = _length_notes(counts, wl.new_tokens)
    if done.stats.prompt_tokens != len(wl.prompt_ids):
        seen = done.stats.prompt_tokens
        notes.append(f"engine saw {seen} prompt tokens, not {len(wl.prompt_ids)}")
    return Measurement(
        way, wl.name, wall, first, wl.n, counts, rss.peak, done.stats.reused_tokens, notes
    )


class _FirstTokenStreamer:
    """A transformers streamer that notes when the first new tokens arrive.

    `generate` calls `put` with the prompt first, then once per step with the new tokens.
    """

    def __init__(self) -> None:
        self.puts = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.puts += 1
        if self.puts == 2:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def run_plain(model: Any, tokenizer: Any, wl: Workload, seed: int) -> Measurement:
    """Time plain `model.generate` with sampling, forced to exactly `wl.new_tokens` tokens."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    streamer = type("FirstTokenStreamer", (_FirstTokenStreamer, BaseStreamer), {})()
    torch.manual_seed(seed)
    with PeakRSS() as rss, torch.inference_mode():
        start = time.perf_counter()
        enc = tokenizer(wl.prompt, return_tensors="pt", add_special_tokens=False)
        out = model.generate(
            enc["input_ids"],
            attention_mask=enc["attention_mask"],
            do_sample=True,
            temperature=TEMPERATURE,
            top_k=TOP_K,
            top_p=1.0,
            max_new_tokens=wl.new_tokens,
            min_new_tokens=wl.new_tokens,
            num_return_sequences=wl.n,
            pad_token_id=tokenizer.eos_token_id,
            streamer=streamer,
        )
        wall = time.perf_counter() - start
    assert streamer.first is not None
    prompt_len = enc["input_ids"].shape[1]
    counts = [int(out.shape[1] - prompt_len)] * int(out.shape[0])
    notes = _length_notes(counts, wl.new_tokens)
    if prompt_len != len(wl.prompt_ids):
        notes.append(f"plain saw {prompt_len} prompt tokens, not {len(wl.prompt_ids)}")
    return Measurement(
        "plain", wl.name, wall, streamer.first - start, wl.n, counts, rss.peak, notes=notes
    )


def run_ct2(generator: Any, tokenizer: Any, wl: Workload, seed: int) -> Measurement:
    """Time CTranslate2 `generate_batch` with one prompt and `wl.n` sampled hypotheses."""
    import ctranslate2

    first: list[float] = []

    def on_token(step: Any) -> bool:
        if not first:
            first.append(time.perf_counter())
        return False  # keep going

    ctranslate2.set_random_seed(seed)
    with PeakRSS() as rss:
        start = time.perf_counter()
        ids = tokenizer(wl.prompt, add_special_tokens=False)["input_ids"]
        result = generator.generate_batch(
            [tokenizer.convert_ids_to_tokens(ids)],
            num_hypotheses=wl.n,
            sampling_topk=TOP_K,
            sampling_temperature=TEMPERATURE,
            min_length=wl.new_tokens,
            max_length=wl.new_tokens,
            include_prompt_in_result=False,
            callback=on_token,
        )
        wall = time.perf_counter() - start
    counts = [len(seq) for seq in result[0].sequences_ids]
    return Measurement(
        "ct2",
        wl.name,
        wall,
        first[0] - start,
        wl.n,
        counts,
        rss.peak,
        notes=_length_notes(counts, wl.new_tokens),
    )
