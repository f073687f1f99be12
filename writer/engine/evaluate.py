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
