"""Perplexity of a model on a token stream, with a sliding window over long texts.

This is the standard Hugging Face "perplexity of fixed-length models" method: windows of
`block_size` tokens advance by `stride`; each window scores only the tokens no earlier window
scored, and the tokens before them serve as context. With stride < block_size every scored token
after the first window sees at least `block_size - stride` tokens of context.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from writer.errors import WriterError


@dataclass(frozen=True)
class Perplexity:
    """exp(mean negative log-likelihood) over `tokens` predicted tokens."""

    perplexity: float
    tokens: int
    nll: float  # summed, in nats


def model_context(model: Any) -> int:
    """The longest sequence the model accepts (1024 for GPT-2)."""
    config = model.config
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1024


def check_window(model: Any, block_size: int | None, stride: int | None) -> tuple[int, int]:
    """Validated (block_size, stride); defaults: the model's context and half of it."""
    limit = model_context(model)
    block = limit if block_size is None else block_size
    if block < 2:
        raise WriterError(f"--block-size {block} is too small; use at least 2")
    if block > limit:
        raise WriterError(f"--block-size {block} is larger than the model's context ({limit})")
    step = max(1, block // 2) if stride is None else stride
    if not 1 <= step <= block:
        raise WriterError(f"--stride {step} must be between 1 and the block size ({block})")
    return block, step


def perplexity(
    model: Any,
    ids: Sequence[int],
    block_size: int,
    stride: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> Perplexity:
    """Sliding-window perplexity of `model` on `ids` (every token after the first is scored).

    `on_progress(done, total)` is called after each window with counts of scored tokens.
    """
    import torch
    import torch.nn.functional as F

    if len(ids) < 2:
        raise WriterError("too little text to evaluate: need at least two tokens")
    device = next(model.parameters()).device
    data = torch.tensor(list(ids), dtype=torch.long, device=device)
    total = len(ids) - 1
    nll = 0.0
    scored = 0  # tokens scored so far; the target of position i is token i + 1
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            begin = 0
            while scored < total:
                end = min(begin + block_size, len(ids))
                window = data[begin:end].unsqueeze(0)
                logits = model(window).logits[0, :-1].float()
                targets = data[begin + 1 : end]
                # Score only targets past what earlier windows scored.
                first_new = scored - begin
                loss = F.cross_entropy(logits[first_new:], targets[first_new:], reduction="sum")
                nll += loss.item()
                scored = end - 1
                if on_progress is not None:
                    on_progress(scored, total)
                # Never skip a token: the next window starts at or before the last scored one.
                begin = min(begin + stride, scored)
    finally:
        model.train(was_training)
    return Perplexity(perplexity=math.exp(nll / total), tokens=total, nll=nll)


# -- continuation metrics (`writer eval --continuations`) ------------------------------------

# Defaults sized for GPT-2 small on a 2-core laptop: 24 prompts x 4 candidates x 32 tokens per
# preset is ~3,100 generated tokens; at the engine's measured ~150 tokens/s for 4 candidates
# (docs/benchmarks.md, W1 in fp32) plus 24 scoring passes, one preset takes about 30 s.
DEFAULT_SAMPLES = 24
DEFAULT_WINDOW = 128
DEFAULT_LENGTH = 32
DEFAULT_CANDIDATES = 4
# How far the split point may move forward to land on the start of a word.
_SNAP_TOKENS = 8


@dataclass(frozen=True)
class ContinuationPair:
    """A prompt (the `window` tokens before a word start) and the `length` true tokens after."""

    prompt_ids: tuple[int, ...]
    continuation_ids: tuple[int, ...]
    prompt: str
    continuation: str


def check_pair_sizes(
    window: int,
    length: int,
    samples: int,
    candidates: int,
    context: int | None = None,
    samples_flag: str = "--samples",
) -> None:
    """Validate the pair sizes (before anything heavy runs); errors name the flag to change."""
    from writer.engine.types import MAX_CANDIDATES

    if window < 1:
        raise WriterError(f"--window {window} is too small; use at least 1 token")
    if length < 1:
        raise WriterError(f"--length {length} is too small; use at least 1 token")
    if not 1 <= samples <= 10_000:
        raise WriterError(f"{samples_flag} must be 1 to 10000; got {samples}")
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise WriterError(f"-n must be 1 to {MAX_CANDIDATES} candidates; got {candidates}")
    if context is not None and window + length > context:
        raise WriterError(
            f"--window {window} + --length {length} exceed the model's context ({context}); "
            "use smaller values"
        )


def _starts_word(tokenizer: Any, token_id: int) -> bool:
    piece = tokenizer.decode([token_id])
    return bool(piece) and (piece[0].isspace() or not piece[0].isalnum())


def make_pairs(
    tokenizer: Any, ids: Sequence[int], window: int, length: int, samples: int
) -> list[ContinuationPair]:
    """Prompt/continuation pairs from a token stream (documents separated by end-of-text).

    Each document is cut into consecutive, non-overlapping spans of `window + length` tokens;
    in each span the split point moves forward (at most 8 tokens) to the next word start, so the
    prompt ends with a whole word. When there are more spans than `samples`, `samples` of them
    are taken evenly spread over the text. Deterministic: the same text gives the same pairs.
    """
    eos = tokenizer.eos_token_id
    documents: list[list[int]] = [[]]
    for token in ids:
        if token == eos:
            documents.append([])
        else:
            documents[-1].append(int(token))
    span = window + length
    pairs: list[ContinuationPair] = []
    for doc in documents:
        for start in range(0, len(doc) - span + 1, span):
            split = start + window
            limit = min(split + _SNAP_TOKENS, len(doc) - length)
            while split < limit and not _starts_word(tokenizer, doc[split]):
                split += 1
            prompt_ids = tuple(doc[split - window : split])
            cont_ids = tuple(doc[split : split + length])
            pairs.append(
                ContinuationPair(
                    prompt_ids, cont_ids, tokenizer.decode(prompt_ids), tokenizer.decode(cont_ids)
                )
            )
    if not pairs:
        longest = max(len(doc) for doc in documents)
        raise WriterError(
            f"the held-out text is too short for continuation pairs: one needs --window {window} "
            f"+ --length {length} = {span} tokens in one file, the longest has {longest}; "
            "give more text or smaller --window/--length"
        )
    if len(pairs) > samples:
        pairs = [pairs[i * len(pairs) // samples] for i in range(samples)]
    return pairs


def sequence_logprobs(engine: Any, ids: Sequence[int]) -> list[float]:
    """log p(ids[t] | ids[:t]) for t >= 1 under the engine's model (teacher-forced, exact)."""
    import torch

    backend = engine.backend
    runner = getattr(backend, "runner", None)
    with torch.inference_mode():
        if runner is not None:
            data = torch.tensor(list(ids), dtype=torch.long, device=runner.device)
            logits, _kv = runner.prefill(data, None, all_logits=True)
        else:
            data = torch.tensor([list(ids)], dtype=torch.long, device=engine.model.device)
            logits = engine.model(data).logits[0].float()
            data = data[0]
        logp = torch.log_softmax(logits[:-1].float(), dim=-1)
        return logp.gather(1, data[1:, None])[:, 0].tolist()


def true_logprob(engine: Any, pair: ContinuationPair) -> list[float]:
    """Log-probabilities of the pair's true continuation tokens, given its prompt."""
    scores = sequence_logprobs(engine, pair.prompt_ids + pair.continuation_ids)
    return scores[len(pair.prompt_ids) - 1 :]


def evaluate_continuations(
    engine: Any,
    model_name: str,
    pairs: Sequence[ContinuationPair],
    presets: Sequence[tuple[str, Any]],
    candidates: int,
    seed: int,
    on_progress: Callable[[], None] | None = None,
) -> list[Any]:
    """One ContinuationScores per (name, SamplingParams) in `presets`, for one loaded engine.

    Every preset uses `max_new_tokens = length of the true continuation` and no stop rule, so
    candidates and the truth have the same length budget. Prompt i's candidates use seeds
    `seed + i * candidates ...`: the same seeds for every model and preset (a paired comparison).
    `on_progress()` is called once per prompt generated and once per prompt scored.
    """
    from writer.training.metrics import score_continuations

    length = max(len(p.continuation_ids) for p in pairs)
    logprobs: list[float] = []
    for pair in pairs:
        logprobs.extend(true_logprob(engine, pair))
        if on_progress is not None:
            on_progress()
    mean_logprob = sum(logprobs) / len(logprobs)
    references = [p.continuation for p in pairs]
    rows = []
    for preset_name, params in presets:
        params = params.replace(max_new_tokens=length, stop="none")
        texts: list[list[str]] = []
        for i, pair in enumerate(pairs):
            found = engine.generate(pair.prompt, params, n=candidates, seed=seed + i * candidates)
            texts.append([c.text for c in found])
            if on_progress is not None:
                on_progress()
        rows.append(score_continuations(model_name, preset_name, references, texts, mean_logprob))
    return rows


def continuation_for(engine: Any, pair: ContinuationPair, params: Any, seed: int) -> str:
    """One continuation of the pair's prompt, as long as its true continuation (no stop rule).

    `writer compare` gives A and B the same seed per passage.
    """
    params = params.replace(max_new_tokens=len(pair.continuation_ids), stop="none")
    return engine.generate(pair.prompt, params, n=1, seed=seed)[0].text
