"""Prefill/decode back ends behind the engine's sampling loop.

`FastGPT2Backend` runs GPT-2-family models through `GPT2Runner` with a prompt-prefix cache kept
across requests; `TransformersBackend` runs any other causal LM through its own forward and
transformers' DynamicCache (correct, slower, no cross-request cache).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from writer.engine.cuda_graphs import CudaGraphSession, graphs_available
from writer.engine.gpt2_runner import GPT2Runner, PrefixKV


class DecodeSession(Protocol):
    first_logits: torch.Tensor  # [vocab], float32: the distribution of the first new token
    reused: int  # prompt tokens served from the prefix cache

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per active row; return next-token logits [rows, vocab] (float32)."""

    def keep(self, rows: torch.Tensor) -> None:
        """Drop finished rows: keep only `rows` (indices into the current rows)."""

    # Optional: `rewind(row, length)` rolls one row back to `length` generated tokens, so
    # the next `step` feeds it at that position. Sessions without it get phrase bans enforced
    # by masking only (no backtracking).


class FastGPT2Backend:
    """GPT2Runner plus a one-entry prefix cache: the last prompt's keys/values and logits.

    One entry is enough for an author's session (the story grows at its end; regenerating
    repeats the same prompt) and keeps memory bounded: at most one context window of KV.
    """

    def __init__(self, runner: GPT2Runner) -> None:
        self.runner = runner
        self.context_size = self.runner.n_positions
        self._ids: list[int] = []
        self._kv: PrefixKV | None = None
        self._last_logits: torch.Tensor | None = None

    def cache_info(self) -> dict[str, int]:
        return {"entries": 0 if self._kv is None else 1, "tokens": len(self._ids)}

    def clear_cache(self) -> None:
        self._ids, self._kv, self._last_logits = [], None, None

    def begin(self, ids: list[int], batch: int, capacity: int) -> _FastSession | CudaGraphSession:
        kv, logits, reused = self._prefill(ids)
        if graphs_available(self.runner.device):
            return CudaGraphSession(self.runner, kv, logits, reused, batch, capacity)
        return _FastSession(self.runner, kv, logits, reused, batch, capacity)

    def prompt_logits(self, ids: list[int]) -> torch.Tensor:
        """The next-token logits [vocab] after `ids`, through (and into) the prefix cache."""
        return self._prefill(ids)[1]

    def _prefill(self, ids: list[int]) -> tuple[PrefixKV, torch.Tensor, int]:
        common = 0
        for a, b in zip(self._ids, ids, strict=False):
            if a != b:
                break
            common += 1
        if common == len(ids) and common == len(self._ids) and self._last_logits is not None:
            kv, logits, reused = self._kv, self._last_logits, common
        else:
            # At least one token must run to produce logits for the next position.
            common = min(common, len(ids) - 1)
            prefix = self._kv.cropped(common) if (self._kv is not None and common) else None
            device = self.runner.device
            new = torch.tensor(ids[common:], dtype=torch.long, device=device)
            logits, kv = self.runner.prefill(new, prefix)
            reused = common
            self._ids, self._kv, self._last_logits = list(ids), kv, logits
        assert kv is not None
        return kv, logits, reused


class _FastSession:
    def __init__(
        self,
        runner: GPT2Runner,
        prefix: PrefixKV,
        logits: torch.Tensor,
        reused: int,
        batch: int,
        capacity: int,
    ) -> None:
        self.runner = runner
        self.prefix = prefix
        self.first_logits = logits
        self.reused = reused
        self.suffix = runner.new_suffix(batch, capacity)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.runner.decode(tokens, self.prefix, self.suffix)

    def keep(self, rows: torch.Tensor) -> None:
        self.suffix.select(rows)

    def rewind(self, row: int, length: int) -> None:
        """Roll row `row` back to `length` generated tokens (phrase bans backtrack with it)."""
        self.suffix.rewind(row, length)


class TransformersBackend:
    """Any causal LM through transformers' forward and DynamicCache."""

    def __init__(self, model: Any) -> None:
        self.model = model
        config = model.config
        self.context_size = int(
            getattr(config, "n_positions", None)
            or getattr(config, "max_position_embeddings", None)
            or 1024
        )

    def cache_info(self) -> dict[str, int]:
        return {"entries": 0, "tokens": 0}

    def clear_cache(self) -> None:
        pass

    def begin(self, ids: list[int], batch: int, capacity: int) -> _TransformersSession:
        return _TransformersSession(self.model, ids, batch)

    def prompt_logits(self, ids: list[int]) -> torch.Tensor:
        """The next-token logits [vocab] after `ids` (one forward, no cache kept)."""
        with torch.inference_mode():
            out = self.model(torch.tensor([ids], device=self.model.device), logits_to_keep=1)
        return out.logits[0, -1].float()


def _cache_keyword(model: Any) -> str:
    """transformers 5.x renamed `past_key_values` to `cache` in forward(); accept both."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class _TransformersSession:
    def __init__(self, model: Any, ids: list[int], batch: int) -> None:
        from transformers import DynamicCache

        self.model = model
        self.cache_kw = _cache_keyword(model)
        device = model.device
        cache = DynamicCache(config=model.config)
        with torch.inference_mode():
            out = model(
                torch.tensor([ids], device=device),
                use_cache=True,
                logits_to_keep=1,
                **{self.cache_kw: cache},
            )
        cache.batch_repeat_interleave(batch)
        self.cache = cache
        self.first_logits = out.logits[0, -1].float()
        self.reused = 0

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(tokens[:, None], use_cache=True, **{self.cache_kw: self.cache})
        return out.logits[:, -1].float()

    def keep(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)


def make_backend(model: Any, owns_model: bool = False) -> FastGPT2Backend | TransformersBackend:
    """The fast back end for GPT-2-family models, transformers' forward for anything else.

    `owns_model`: the engine loaded the model for inference only, so its weights may be
    repacked in place (see GPT2Runner).
    """
    from writer.engine.weights import GPT2Checkpoint

    if isinstance(model, GPT2Checkpoint):
        return FastGPT2Backend(model.build_runner())
    if GPT2Runner.supports(model):
        return FastGPT2Backend(GPT2Runner.from_model(model, owns_model=owns_model))
    return TransformersBackend(model)
