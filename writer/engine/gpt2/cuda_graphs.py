"""Decode on a CUDA GPU as one captured graph per request: the launch-bound path made cheap.

Why: on a GPU the decode step of GPT-2 is bound by kernel launches, not by the GPU itself
(measured on an H100: about 16 ms a step for a GPT-2 XL shape, where reading its weights takes
~2 ms; some 1,000 small kernels a step, each launched from Python). A CUDA graph records those
kernels once and replays them with one launch. A graph needs fixed shapes and addresses, so this
session keeps a static layout for the whole request:
 - the shared prompt prefix stays as it is (its length is fixed for the request);
 - each candidate's generated keys/values live in preallocated, zeroed buffers of the request's
   full capacity, written at a position held in a device tensor;
 - attention covers the full capacity with positions past the current one masked out, so the
   result equals the dynamic runner's (the masked scores get zero weight);
 - candidates that finish keep their slot (the batch never shrinks; their rows are ignored),
   so one graph serves every step.
torch.compile's "reduce-overhead" mode does the same with more machinery: it recompiles when
the prompt length changes (every request) and takes tens of seconds to compile GPT-2 XL.
"""

from __future__ import annotations

import torch

from writer.engine.gpt2.kv import PrefixKV
from writer.engine.gpt2.runner import GPT2Runner


def graphs_available(device: torch.device) -> bool:
    """CUDA graphs need a CUDA device; WRITER_CUDA_GRAPHS=0 turns them off (for comparison)."""
    import os

    return device.type == "cuda" and os.environ.get("WRITER_CUDA_GRAPHS", "1") != "0"


class _StaticDecode:
    """The decode step over static buffers; called once to warm up and once under capture."""

    def __init__(self, runner: GPT2Runner, prefix: PrefixKV, batch: int, capacity: int) -> None:
        r = runner
        self.runner = r
        self.prefix = prefix
        dev, dtype = r.device, r.dtype
        shape = (batch, r.n_head, capacity, r.head_dim)
        # Zeroed, not empty: masked positions get probability 0, and 0 * NaN would be NaN.
        self.keys = [torch.zeros(shape, dtype=dtype, device=dev) for _ in r.blocks]
        self.values = [torch.zeros(shape, dtype=dtype, device=dev) for _ in r.blocks]
        self.tokens = torch.zeros(batch, dtype=torch.long, device=dev)
        self.position = torch.zeros(1, dtype=torch.long, device=dev)  # index into the suffix
        self.slots = torch.arange(capacity, device=dev)
        self.batch = batch

    def __call__(self) -> torch.Tensor:
        r = self.runner
        n, pos = self.batch, self.position
        p = self.prefix.length
        h = r.wte.index_select(0, self.tokens) + r.wpe.index_select(0, pos + p)  # [n, d]
        hidden_mask = (self.slots > pos).view(1, 1, -1)  # [1, 1, cap]: not yet written
        for i, blk in enumerate(r.blocks):
            qkv = blk.attn(r._ln(h, blk.ln1_w, blk.ln1_b))
            q, k, v = (x.view(n, r.n_head, r.head_dim) for x in qkv.split(r.d_model, -1))
            sk, sv = self.keys[i], self.values[i]
            sk.index_copy_(2, pos, k.unsqueeze(2))
            sv.index_copy_(2, pos, v.unsqueeze(2))
            q = q * r.scale
            pk, pv = self.prefix.keys[i], self.prefix.values[i]  # [H, P, hd]
            scores_p = torch.matmul(q.transpose(0, 1), pk.transpose(1, 2))  # [H, n, P]
            scores_s = torch.matmul(sk, q.unsqueeze(-1)).squeeze(-1)  # [n, H, cap]
            scores_s = scores_s.masked_fill(hidden_mask, float("-inf"))
            scores = torch.cat([scores_p.transpose(0, 1), scores_s], dim=-1)
            probs = torch.softmax(scores, dim=-1)
            a = torch.matmul(probs[..., :p].transpose(0, 1), pv).transpose(0, 1)  # [n, H, hd]
            a = a + torch.matmul(probs[..., p:].unsqueeze(-2), sv).squeeze(-2)
            h = h + blk.proj(a.reshape(n, r.d_model))
            h = h + r._mlp(blk, h)
        return r.logits(h)


class CudaGraphSession:
    """A decode session (see backends.DecodeSession) that replays one CUDA graph per step."""

    def __init__(
        self,
        runner: GPT2Runner,
        prefix: PrefixKV,
        logits: torch.Tensor,
        reused: int,
        batch: int,
        capacity: int,
    ) -> None:
        self.first_logits = logits
        self.reused = reused
        self.step_index = 0
        self.capacity = capacity
        self.active = torch.arange(batch, device=runner.device)  # slots of the live rows
        self._static = _StaticDecode(runner, prefix, batch, capacity)
        self._graph = torch.cuda.CUDAGraph()
        with torch.inference_mode():
            # Warm up on a side stream (cuBLAS picks its kernels, the allocator its blocks),
            # as torch.cuda.graphs documents; the writes at slot 0 are overwritten by step 0.
            stream = torch.cuda.Stream(device=runner.device)
            stream.wait_stream(torch.cuda.current_stream(runner.device))
            with torch.cuda.stream(stream):
                self._static()
            torch.cuda.current_stream(runner.device).wait_stream(stream)
            with torch.cuda.graph(self._graph):
                self._out = self._static()

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.step_index >= self.capacity:
            raise ValueError("decode past the request's capacity")
        self._static.tokens.index_copy_(0, self.active, tokens)
        self._static.position.fill_(self.step_index)
        self._graph.replay()
        self.step_index += 1
        return self._out.index_select(0, self.active)

    def keep(self, rows: torch.Tensor) -> None:
        self.active = self.active.index_select(0, rows.to(self.active.device))
