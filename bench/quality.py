"""How far a reduced-precision engine's next-token distributions are from fp32's.

Teacher-forced over held-out text (see `workloads.heldout_ids`): at every position both models
see the same true prefix, and we compare their next-token distributions. The forward passes
are the engines' own transformers models (`engine.model`, loaded in each precision by
`load_engine`), so the weights compared are exactly what each engine holds.
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
    """Top-1 agreement and KL divergence of `other`'s next-token distributions vs `reference`."""
    import torch

    batch = torch.tensor([ids], dtype=torch.long)
    with torch.inference_mode():
        ref = torch.log_softmax(reference(batch).logits[0].double(), dim=-1)
        red = torch.log_softmax(other(batch).logits[0].double(), dim=-1)
    kl = (ref.exp() * (ref - red)).sum(dim=-1)
    top1 = (ref.argmax(dim=-1) == red.argmax(dim=-1)).float().mean()
    return Agreement(precision, len(ids), float(top1), float(kl.mean()), float(kl.max()))
