"""The keys and values GPT2Runner keeps: one shared copy of a prompt's, and each candidate's own
for the tokens it generates (preallocated, written in place: no copy per step)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PrefixKV:
    """Keys and values of a prompt, one sequence: per layer [heads, length, head_dim]."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def length(self) -> int:
        return self.keys[0].shape[1] if self.keys else 0

    def cropped(self, length: int) -> PrefixKV:
        return PrefixKV([k[:, :length] for k in self.keys], [v[:, :length] for v in self.values])


class SuffixKV:
    """Preallocated per-candidate keys/values for the generated tokens, written in place."""

    def __init__(
        self,
        n_layer: int,
        batch: int,
        heads: int,
        capacity: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        shape = (batch, heads, capacity, head_dim)
        # Zeros, not empty: after a rollback a row attends (with weight 0) to positions it never
        # wrote, and 0 x a NaN left in unused memory is NaN (int8 then fails, fp32 samples NaN).
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.length = 0
        # Per-row lengths once a row was rolled back (phrase bans); None while all rows have
        # `length` tokens, the common case, which keeps decode's plain path.
        self.lengths: list[int] | None = None

    def rewind(self, row: int, length: int) -> None:
        """Forget row `row`'s tokens from position `length` on (they are overwritten later)."""
        if self.lengths is None:
            self.lengths = [self.length] * self.keys[0].shape[0]
        self.lengths[row] = length

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (finished candidates leave the batch)."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        if self.lengths is not None:
            self.lengths = [self.lengths[i] for i in rows.tolist()]
            self._settle()

    def _settle(self) -> None:
        """Back to one shared length when every row has the same."""
        lengths = self.lengths
        if lengths is not None and len(set(lengths)) <= 1:
            self.length = lengths[0] if lengths else self.length
            self.lengths = None
