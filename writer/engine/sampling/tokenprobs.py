"""Per-token probabilities: what the model weighed at each generated token, recorded cheaply.

Asked for with `logprobs=k`, each sampling step adds one log-softmax of the processed scores
(the sampling distribution), one top-k over the model's log-probabilities (already computed for
the candidate's mean log-probability) and three gathers, all on the step's logits, then a single
copy to Python lists. Token texts are looked up once per token id (a per-engine cache), and the
objects are built only when a delta or a candidate hands them out. Without `logprobs` none of
this runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from writer.engine.types import TokenChoice, TokenLogprobs

NEG_INF = float("-inf")


@dataclass(frozen=True)
class StepRecord:
    """One row's token at one step, as plain numbers (texts are looked up when handed out)."""

    token_id: int
    logprob: float
    sampled_logprob: float
    top_ids: tuple[int, ...]
    top_logprobs: tuple[float, ...]
    top_sampled: tuple[float, ...]


def sampled_logprobs(scores: torch.Tensor, greedy: bool) -> torch.Tensor:
    """Log-probabilities of the distribution the sampler draws from, given processed `scores`.

    Greedy decoding takes the argmax: a point mass (0 there, -inf elsewhere).
    """
    if greedy:
        out = torch.full_like(scores, NEG_INF, dtype=torch.float32)
        return out.scatter_(1, scores.argmax(dim=-1, keepdim=True), 0.0)
    return torch.log_softmax(scores.float(), dim=-1)


def record_step(
    model_logprobs: torch.Tensor,
    scores: torch.Tensor,
    tokens: torch.Tensor,
    k: int,
    greedy: bool,
) -> list[StepRecord]:
    """Per batch row: the chosen token's log-probabilities and the model's top `k` tokens.

    `model_logprobs` is log_softmax of the raw logits [rows, vocab]; `scores` the processed
    logits the token was drawn from; `tokens` [rows] the choices.
    """
    sampled = sampled_logprobs(scores, greedy)
    chosen = tokens[:, None]
    lp = model_logprobs.gather(1, chosen)[:, 0].tolist()
    slp = sampled.gather(1, chosen)[:, 0].tolist()
    ids = tokens.tolist()
    k = min(k, model_logprobs.shape[-1])
    if k > 0:
        top_lp, top_ids = model_logprobs.topk(k, dim=-1)
        top_slp = sampled.gather(1, top_ids).tolist()
        top_lp_list, top_id_list = top_lp.tolist(), top_ids.tolist()
    else:
        top_slp = top_lp_list = top_id_list = [[] for _ in ids]
    return [
        StepRecord(
            ids[b],
            lp[b],
            slp[b],
            tuple(top_id_list[b]),
            tuple(top_lp_list[b]),
            tuple(top_slp[b]),
        )
        for b in range(len(ids))
    ]


class TokenTexts:
    """Each token id's own text, decoded once and remembered (a vocabulary at most)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._texts: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        text = self._texts.get(token_id)
        if text is None:
            text = self.tokenizer.decode(
                [token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
            self._texts[token_id] = text
        return text


def token_logprobs(record: StepRecord, text: str, texts: TokenTexts) -> TokenLogprobs:
    """The public form of one step's record; `text` is the token's share of the candidate."""
    top = tuple(
        TokenChoice(i, texts(i), lp, slp)
        for i, lp, slp in zip(record.top_ids, record.top_logprobs, record.top_sampled, strict=True)
    )
    return TokenLogprobs(record.token_id, text, record.logprob, record.sampled_logprob, top)


def pieces(text: str, offsets: list[int], start: int, stop: int) -> list[str]:
    """Tokens `start`..`stop`'s shares of `text`; `offsets[i]` is where token i's text ends
    (the decoded length of the first i + 1 tokens, less a trailing partial character)."""
    out = []
    for i in range(start, stop):
        begin = offsets[i - 1] if i else 0
        out.append(text[min(begin, len(text)) : min(offsets[i], len(text))])
    return out


def next_token_choices(
    logits: torch.Tensor, scores: torch.Tensor, k: int, greedy: bool, texts: TokenTexts
) -> list[TokenChoice]:
    """The `k` most likely next tokens under the model (`logits` [vocab]), most likely first,
    with their probabilities under the sampling distribution given by `scores`."""
    model_lp = torch.log_softmax(logits.float(), dim=-1)
    sampled = sampled_logprobs(scores[None], greedy)[0]
    k = min(k, model_lp.shape[-1])
    if k <= 0:
        return []
    top_lp, top_ids = model_lp.topk(k)
    ids = top_ids.tolist()
    return [
        TokenChoice(i, texts(i), lp, slp)
        for i, lp, slp in zip(ids, top_lp.tolist(), sampled[top_ids].tolist(), strict=True)
    ]
