"""The keys and values GPT2Runner keeps: one shared copy of a prompt's, and each candidate's own
for the tokens it generates (preallocated, written in place: no copy per step)."""

from __future__ import annotations

import functools
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

    @functools.cached_property
    def keys_t(self) -> list[torch.Tensor]:
        """The keys as [heads, head_dim, length] views (what a decode step multiplies by)."""
        return [k.transpose(1, 2) for k in self.keys]

    def cropped(self, length: int) -> PrefixKV:
        return PrefixKV([k[:, :length] for k in self.keys], [v[:, :length] for v in self.values])


class SuffixKV:
    """Preallocated per-candidate keys/values for the generated tokens, written in place.

    Held head-major, per layer [2 (keys, values), heads, rows, capacity, head_dim], so that a
    decode step writes a token's keys and values in one copy and multiplies every head's rows
    in one batched product with no reshuffle (measured: ~10% of a one-candidate step was such
    small operations). The step's scratch tensors live here too, one set per request.
    """

    def __init__(
        self,
        n_layer: int,
        batch: int,
        heads: int,
        capacity: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
        pad_rows: int = 0,
    ) -> None:
        """`pad_rows`: the prompt's attention products run on this multiple of rows (GPT2Runner
        says why); 0 for the rows as they are."""
        shape = (2, heads, batch, capacity, head_dim)
        # Zeros, not empty: after a rollback a row attends (with weight 0) to positions it never
        # wrote, and 0 x a NaN left in unused memory is NaN (int8 then fails, fp32 samples NaN).
        self.kv = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.length = 0
        # Per-row lengths once a row was rolled back (phrase bans); None while all rows have
        # `length` tokens, the common case.
        self.lengths: list[int] | None = None
        self.pad_rows = pad_rows
        self._prompt: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
        self._wide: tuple[torch.Tensor, torch.Tensor] | None = None
        self._views()

    def _views(self) -> None:
        _, heads, batch, capacity, head_dim = self.kv[0].shape
        flat = (heads * batch, capacity, head_dim)
        self.keys_flat = [kv[0].view(flat) for kv in self.kv]
        self.values_flat = [kv[1].view(flat) for kv in self.kv]
        # The step's queries, [heads, rows, head_dim], contiguous for the products.
        self.query = self.kv[0].new_zeros(heads, batch, head_dim)
        self._padded: tuple[int, tuple[torch.Tensor, ...]] | None = None

    @property
    def rows(self) -> int:
        return self.kv[0].shape[2]

    def padded(self, prefix_length: int) -> tuple[torch.Tensor, ...]:
        """Queries and prompt probabilities padded to `pad_rows`: ([H, R, hd], its first rows,
        [H, R, P], its first rows). Rows past the real ones hold stale numbers, which no real
        row's result depends on (a row of a product reads only its own row)."""
        if self._padded is None or self._padded[0] != prefix_length:
            heads, n, head_dim = self.query.shape
            rows = -(-n // self.pad_rows) * self.pad_rows
            q = self.query.new_zeros(heads, rows, head_dim)
            p = self.query.new_zeros(heads, rows, prefix_length)
            self._padded = (prefix_length, (q, q[:, :n], p, p[:, :n]))
        return self._padded[1]

    def prompt_as(self, prefix: PrefixKV, dtype: torch.dtype) -> tuple[list, list]:
        """The prompt's keys (transposed, as PrefixKV.keys_t) and values in `dtype`, made once
        per request."""
        if self._prompt is None:
            self._prompt = (
                [k.to(dtype).transpose(1, 2) for k in prefix.keys],
                [v.to(dtype) for v in prefix.values],
            )
        return self._prompt

    def widening(self, dtype: torch.dtype, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Two [heads, length, head_dim] buffers a decode step widens one layer's prompt keys
        and values into (allocated per step they cost more than the widening: page faults)."""
        if self._wide is None:
            heads, _, head_dim = self.query.shape
            shape = (heads, length, head_dim)
            device = self.query.device
            self._wide = (
                torch.empty(shape, dtype=dtype, device=device),
                torch.empty(shape, dtype=dtype, device=device),
            )
        return self._wide

    def rewind(self, row: int, length: int) -> None:
        """Forget row `row`'s tokens from position `length` on (they are overwritten later)."""
        if self.lengths is None:
            self.lengths = [self.length] * self.rows
        self.lengths[row] = length

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (finished candidates leave the batch)."""
        self.kv = [kv.index_select(2, rows) for kv in self.kv]
        self._views()
        if self.lengths is not None:
            self.lengths = [self.lengths[i] for i in rows.tolist()]
            self._settle()

    def _settle(self) -> None:
        """Back to one shared length when every row has the same."""
        lengths = self.lengths
        if lengths is not None and len(set(lengths)) <= 1:
            self.length = lengths[0] if lengths else self.length
            self.lengths = None
