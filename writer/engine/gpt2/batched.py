"""One decode step for the rows of several requests at once (continuous batching).

Each request keeps its own prompt keys/values (PrefixKV) and its own candidates' keys/values
(SuffixKV), of its own lengths. A step over several requests runs the matrix products (the
attention's projections, the MLP, the lm_head: nearly all of a step's bytes) once over every
row of every request, and the attention per request, over [its prompt ; its rows' suffixes],
with exactly the operations `GPT2Runner.decode` runs for that request alone (the same shapes,
the same int8 padding), so a request's numbers do not depend on what it is batched with.

Why grouped attention and not one padded (ragged) attention over all rows: in int8 a last-bit
difference can move a sample (GPT2Runner.chunk), and a padded product over other lengths sums
in another order; per-request attention keeps `--seed S` giving the same candidates alone and
batched. The attention is the small part of a step on a CPU (it reads the prompt's KV once per
request either way); the weights, read once per step instead of once per request, are the gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from writer.engine.gpt2.backends import _FastSession
from writer.engine.gpt2.kv import PrefixKV, SuffixKV
from writer.engine.gpt2.runner import _UPCAST_ONCE, GPT2Runner

# In a batched step, int8's bf16 prompt keys/values are widened to float32 once per request up
# to this prompt length (alone: `_UPCAST_ONCE`), not per step and layer: one request's copies
# are ~73 KB per prompt token for GPT-2 small (19 MB at 256), and a step over 8 requests would
# otherwise widen 8 prompts at every layer. The widened numbers are the same (bf16 -> float32
# is exact), so the candidates are too.
UPCAST_ONCE_BATCHED = 256


class _Group:
    """One request's rows within a batched step: its per-step state, set up as
    `GPT2Runner.decode` sets it up, and its attention for one layer."""

    def __init__(self, runner: GPT2Runner, rows: slice, prefix: PrefixKV, suffix: SuffixKV) -> None:
        self.runner, self.rows, self.prefix, self.suffix = runner, rows, prefix, suffix
        n = rows.stop - rows.start
        self.n = n
        heads, head_dim = runner.n_head, runner.head_dim
        p = prefix.length
        self.p = p
        self.query = suffix.query  # [H, n, hd]
        self.query_rows = self.query.view(heads * n, head_dim, 1)
        if suffix.pad_rows:
            self.q_pad, self.q_real, self.p_pad, self.p_real = suffix.padded(p)
        device = runner.device
        if suffix.lengths is None:
            s = suffix.length
            self.top, self.where, self.hidden = s + 1, s, None
            self.positions = torch.full((n,), p + s, dtype=torch.long, device=device)
        else:
            lengths = torch.tensor(suffix.lengths, dtype=torch.long, device=device)
            self.top = max(suffix.lengths) + 1
            self.where = (slice(None), slice(None), torch.arange(n, device=device), lengths)
            self.hidden = torch.arange(self.top, device=device)[None, :] > lengths[:, None]
            self.positions = p + lengths
        self.keys_t, self.values = prefix.keys_t, prefix.values
        self.upcast = p > 0 and self.values[0].dtype != runner.dtype
        if self.upcast and p <= max(_UPCAST_ONCE, UPCAST_ONCE_BATCHED):
            self.keys_t, self.values = suffix.prompt_as(prefix, runner.dtype)
            self.upcast = False
        elif self.upcast:
            self.wide_k, self.wide_v = suffix.widening(runner.dtype, p)

    def attend(self, i: int, qkv: torch.Tensor) -> torch.Tensor:
        """Layer `i`'s attention for this group's rows of `qkv` [n, 3, H, hd] -> [n, d]."""
        runner, suffix, n, p, top = self.runner, self.suffix, self.n, self.p, self.top
        heads, head_dim = runner.n_head, runner.head_dim
        kv = suffix.kv[i]
        if self.hidden is None:
            kv[:, :, :, self.where] = qkv[:, 1:].permute(1, 2, 0, 3)
        else:
            kv[self.where] = qkv[:, 1:].permute(1, 2, 0, 3)
        torch.mul(qkv[:, 0].transpose(0, 1), runner.scale, out=self.query)
        if self.upcast:
            prompt_k = self.wide_k.copy_(self.prefix.keys[i]).transpose(1, 2)
            prompt_v = self.wide_v.copy_(self.values[i])
        else:
            prompt_k, prompt_v = self.keys_t[i], self.values[i]
        if suffix.pad_rows:
            self.q_real.copy_(self.query)
            scores_p = torch.bmm(self.q_pad, prompt_k)[:, :n]
        else:
            scores_p = torch.bmm(self.query, prompt_k)
        scores_s = torch.bmm(suffix.keys_flat[i][:, :top], self.query_rows).view(heads, n, top)
        if self.hidden is not None:
            scores_s = scores_s.masked_fill(self.hidden, float("-inf"))
        probs = torch.softmax(torch.cat((scores_p, scores_s), -1), -1)
        if suffix.pad_rows:
            self.p_real.copy_(probs[..., :p])
            a = torch.bmm(self.p_pad, prompt_v)[:, :n]
        else:
            a = torch.bmm(probs[..., :p], prompt_v)
        own = probs[..., p:].reshape(heads * n, 1, top)
        a = a + torch.bmm(own, suffix.values_flat[i][:, :top]).view(heads, n, head_dim)
        return a.transpose(0, 1).reshape(n, runner.d_model)

    def finish(self) -> None:
        suffix = self.suffix
        if self.hidden is None:
            suffix.length += 1
        else:
            suffix.lengths = [length + 1 for length in suffix.lengths]  # type: ignore[union-attr]
            suffix.length = max(suffix.lengths)
            suffix._settle()


@torch.inference_mode()
def decode_many(
    runner: GPT2Runner, items: Sequence[tuple[torch.Tensor, PrefixKV, SuffixKV]]
) -> list[torch.Tensor]:
    """One decode step for several requests: `items` are (tokens [n_i], prefix, suffix) as
    `GPT2Runner.decode` takes them; returns each request's logits [n_i, vocab]."""
    groups, start = [], 0
    for tokens, prefix, suffix in items:
        n = tokens.shape[0]
        groups.append(_Group(runner, slice(start, start + n), prefix, suffix))
        start += n
    rows = start
    tokens = torch.cat([item[0] for item in items])
    positions = torch.cat([g.positions for g in groups])
    h = runner.wte[tokens].to(runner.dtype) + runner.wpe[positions]
    heads, head_dim = runner.n_head, runner.head_dim
    for i, blk in enumerate(runner.blocks):
        qkv = blk.attn.rowwise(runner._ln(h, blk.ln1_w, blk.ln1_b)).view(rows, 3, heads, head_dim)
        a = torch.cat([g.attend(i, qkv[g.rows]) for g in groups])
        h = h + blk.proj.rowwise(a)
        h = h + blk.out.rowwise(
            blk.fc.rowwise(runner._ln(h, blk.ln2_w, blk.ln2_b), runner.gelu_approx)
        )
    for g in groups:
        g.finish()
    logits = runner.logits(h, True)
    return [logits[g.rows] for g in groups]


def step_many(steps: Sequence[tuple[Any, torch.Tensor]]) -> list[torch.Tensor]:
    """Run the model steps of several requests, (session, tokens) each, batched into one
    `decode_many` where their sessions are the fast CPU back end's over one runner; otherwise
    (CUDA graphs, transformers' forward) one after another. Returns each step's logits."""
    sessions = [session for session, _ in steps]
    runner = getattr(sessions[0], "runner", None)
    if len(steps) > 1 and all(type(s) is _FastSession and s.runner is runner for s in sessions):
        assert runner is not None
        return decode_many(runner, [(t, s.prefix, s.suffix) for s, t in steps])
    return [session.step(tokens) for session, tokens in steps]
