"""The before/after report of `writer learn`, measured on held-out preference pairs.

- accuracy: the share of pairs whose chosen completion has the higher length-normalised
  log-likelihood (mean log-probability per token) than the rejected one (a tie counts half);
- reward_margin: DPO's implicit reward margin, beta * ((log pi(c) - log ref(c)) -
  (log pi(r) - log ref(r))), averaged over pairs (0 for the base model, its own reference);
- kl_to_base: KL(model || base) per token, in nats, over the next-token distributions at the
  positions of each held-out prompt's chosen completion (0 for the base);
- perplexity: of the chosen completions, given their prompts (the candidates the author picked);
- own_text_perplexity: of the author's own text: the held-out pairs' prompts (the story before
  each request, which no loss scores, though it holds the candidates inserted earlier, some of
  them chosen completions of trained pairs), or text the caller hands in (`own_text`, e.g.
  unseen passages of the story); `own_text` says which, `own_text_tokens` how much. This is
  the figure to watch for drift: how much worse the model predicts what the author writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from writer.training.dpo import TokenizedPair


@dataclass(frozen=True)
class PairScores:
    """Summed log-likelihoods and lengths of one pair's completions under one model."""

    chosen: float
    rejected: float
    chosen_tokens: int
    rejected_tokens: int


@dataclass(frozen=True)
class PreferenceReport:
    accuracy: float
    reward_margin: float
    kl_to_base: float
    perplexity: float
    pairs: int
    own_text_perplexity: float | None = None
    own_text: str = ""
    own_text_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The fields; the own_text ones only when there was such text to measure."""
        out = asdict(self)
        if self.own_text_perplexity is None:
            for key in ("own_text_perplexity", "own_text", "own_text_tokens"):
                del out[key]
        return out


def _completion_logits(model: Any, prompt: list[int], completion: list[int]) -> tuple[Any, Any]:
    """(logits predicting each completion token, the completion's ids), float32."""
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([prompt + completion], dtype=torch.long, device=device)
    logits = model(ids).logits[0, len(prompt) - 1 : -1].float()
    return logits, ids[0, len(prompt) :]


def _logp(logits: Any, targets: Any) -> float:
    import torch

    return float(torch.log_softmax(logits, -1).gather(1, targets[:, None]).sum())


def score(model: Any, pairs: Sequence[TokenizedPair]) -> list[PairScores]:
    """Each pair's completion log-likelihoods under `model` (teacher-forced, no grad)."""
    import torch

    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for pair in pairs:
                chosen = _logp(*_completion_logits(model, pair.prompt_ids, pair.chosen_ids))
                rejected = _logp(*_completion_logits(model, pair.prompt_ids, pair.rejected_ids))
                out.append(
                    PairScores(chosen, rejected, len(pair.chosen_ids), len(pair.rejected_ids))
                )
    finally:
        model.train(was_training)
    return out


def kl_to_reference(
    model: Any, reference: Callable[[], Any], pairs: Sequence[TokenizedPair]
) -> float:
    """Mean per-token KL(model || reference) over the chosen completions' positions.

    `reference()` is a context manager under which `model` computes the reference's logits (a
    LoRA model with its adapter disabled) or that yields another model (a frozen copy).
    """
    import torch

    was_training = model.training
    model.eval()
    total, positions = 0.0, 0
    try:
        with torch.no_grad():
            for pair in pairs:
                logits, _ = _completion_logits(model, pair.prompt_ids, pair.chosen_ids)
                with reference() as ref:
                    ref_logits, _ = _completion_logits(ref, pair.prompt_ids, pair.chosen_ids)
                logp = torch.log_softmax(logits, -1)
                ref_logp = torch.log_softmax(ref_logits.to(logp.device), -1)
                total += float((logp.exp() * (logp - ref_logp)).sum())
                positions += logp.shape[0]
    finally:
        model.train(was_training)
    return total / positions if positions else 0.0


def text_windows(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Each distinct text's last `max_length` tokens (as the engine keeps a long story's end);
    texts of fewer than 2 tokens give nothing to predict and are left out."""
    windows = []
    for text in dict.fromkeys(texts):
        ids = tokenizer.encode(text)[-max_length:]
        if len(ids) >= 2:
            windows.append(ids)
    return windows


def text_nll(model: Any, windows: Sequence[list[int]]) -> tuple[float, int]:
    """(summed negative log-likelihood, tokens predicted) of `windows`, each token after the
    first given the ones before it (teacher-forced, no grad)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    nll, tokens = 0.0, 0
    try:
        with torch.no_grad():
            for ids in windows:
                batch = torch.tensor([ids], dtype=torch.long, device=device)
                logits = model(batch).logits[0, :-1].float()
                nll -= _logp(logits, batch[0, 1:])
                tokens += len(ids) - 1
    finally:
        model.train(was_training)
    return nll, tokens


def report(
    scores: Sequence[PairScores],
    reference: Sequence[PairScores],
    beta: float,
    kl: float = 0.0,
    own_text: tuple[str, float, int] | None = None,
) -> PreferenceReport:
    """The report of a model whose scores are `scores`, against the base's `reference`;
    `own_text`: (what the text is, its summed NLL, its token count) from `text_nll`."""
    wins = 0.0
    margins = 0.0
    nll, tokens = 0.0, 0
    for s, r in zip(scores, reference, strict=True):
        chosen = s.chosen / s.chosen_tokens
        rejected = s.rejected / s.rejected_tokens
        wins += 1.0 if chosen > rejected else 0.5 if chosen == rejected else 0.0
        margins += beta * ((s.chosen - r.chosen) - (s.rejected - r.rejected))
        nll -= s.chosen
        tokens += s.chosen_tokens
    count = len(scores)
    return PreferenceReport(
        accuracy=wins / count if count else 0.0,
        reward_margin=margins / count if count else 0.0,
        kl_to_base=kl,
        perplexity=math.exp(nll / tokens) if tokens else float("nan"),
        pairs=count,
        **_own_text_fields(own_text),
    )


def _own_text_fields(own_text: tuple[str, float, int] | None) -> dict[str, Any]:
    if own_text is None or not own_text[2]:
        return {}
    label, nll, tokens = own_text
    return {
        "own_text_perplexity": math.exp(nll / tokens),
        "own_text": label,
        "own_text_tokens": tokens,
    }
