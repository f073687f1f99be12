"""How far a reduced-precision engine's next-token distributions are from fp32's.

Teacher-forced over held-out text (see `workloads.heldout_ids`): at every position both models
see the same true prefix, and we compare their next-token distributions. The forward passes
are the engines' own GPT-2 runners (`engine.backend.runner`, loaded in each precision by
`load_engine`), so the weights and arithmetic compared are exactly what each engine uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Agreement:
    precision: str
    positions: int
    top1_agreement: float  # fraction of positions where both argmaxes agree
    mean_kl: float  # mean KL(fp32 || reduced) in nats
    max_kl: float


def compare(reference: Any, other: Any, ids: list[int], precision: str) -> Agreement:
    """Top-1 agreement and KL divergence of engine `other`'s next-token distributions vs
    engine `reference`'s."""
    import torch

    batch = torch.tensor(ids, dtype=torch.long)
    with torch.inference_mode():
        ref_logits, _ = reference.backend.runner.prefill(batch, None, all_logits=True)
        red_logits, _ = other.backend.runner.prefill(batch, None, all_logits=True)
        ref = torch.log_softmax(ref_logits.double(), dim=-1)
        red = torch.log_softmax(red_logits.double(), dim=-1)
    kl = (ref.exp() * (ref - red)).sum(dim=-1)
    top1 = (ref.argmax(dim=-1) == red.argmax(dim=-1)).float().mean()
    return Agreement(precision, len(ids), float(top1), float(kl.mean()), float(kl.max()))
