"""A lean forward pass for GPT-2-family models, built from a loaded transformers model.

Why hand-written: measured on the 2-core target CPU, transformers' GPT-2 decode step takes about
85 ms for 4 candidates, while the same weights need about 25 ms. The time goes to
 - Conv1D's `x @ W` with few rows, which MKL runs at 7-10 GB/s of the machine's 30+ GB/s; the
   same product through oneDNN with weights packed once at load runs at about 33 GB/s (this is
   what torch.compile's CPU backend does with frozen weights, without a compile step);
 - the lm_head's `F.linear` with few rows (22 ms; 5.6 ms as `W @ h^T`);
 - a KV cache that is concatenated (copied) every step and a prompt KV duplicated per candidate.
No library does shared-prefix ("cascade") attention on CPU, so it is here too: the n candidates
of one request attend to a single copy of the prompt's keys and values, and to their own
suffixes; the two parts are merged in one softmax.

The math is GPT-2's, op for op (layer norms, scaled dot-product attention, the tanh GELU), so
logits match transformers' to float rounding; tests check greedy decoding token for token.
Anything outside plain GPT-2 (cross-attention, layer-scaled attention, other activations) makes
`GPT2Runner.supports` return False and the engine falls back to transformers' own forward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from writer.engine.gpt2.kv import PrefixKV, SuffixKV
from writer.engine.gpt2.layers import Block, Linear, PackedConv1D, packing_available
from writer.engine.gpt2.quant import Int8Linear

# int8's bf16 prompt keys/values (`kv_dtype`) are widened to float32 for the products each step,
# which reads half the bytes; for a prompt of one piece (`chunk`) they are widened once per
# request instead (the same numbers; measured: a one-row step at 32 prompt tokens 8.4 against
# 8.4-9.0 ms, equal or better per step from 128 tokens on).
_UPCAST_ONCE = 64
# Rows at or below this take the `W @ h^T` form for the lm_head (decode); more rows use F.linear.
_SMALL_ROWS = 32


SUPPORTED_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh", "gelu")


@dataclass(frozen=True)
class GPT2Shape:
    """The parts of a GPT-2 config the runner needs."""

    n_layer: int
    n_head: int
    n_embd: int
    n_positions: int
    layer_norm_epsilon: float
    activation_function: str

    @classmethod
    def from_config(cls, config: Any) -> GPT2Shape | None:
        """From a transformers config or a config.json dict; None if not plain GPT-2."""

        def get(key: str, default: Any = None) -> Any:
            if isinstance(config, Mapping):
                return config.get(key, default)
            return getattr(config, key, default)

        if (
            get("model_type") != "gpt2"
            or get("activation_function", "gelu_new") not in SUPPORTED_ACTIVATIONS
            or get("add_cross_attention", False)
            or get("scale_attn_by_inverse_layer_idx", False)
            or get("reorder_and_upcast_attn", False)
            or not get("scale_attn_weights", True)
            or get("tie_word_embeddings", True) is False
        ):
            return None
        try:
            return cls(
                int(get("n_layer")),
                int(get("n_head")),
                int(get("n_embd")),
                int(get("n_positions")),
                float(get("layer_norm_epsilon", 1e-5)),
                str(get("activation_function", "gelu_new")),
            )
        except (TypeError, ValueError):
            return None


class GPT2Runner:
    """Prefill and decode for one GPT-2 model; holds no per-request state itself."""

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        """Whether a transformers model is plain GPT-2 (see GPT2Shape.from_config)."""
        config = getattr(model, "config", None)
        return (
            config is not None
            and GPT2Shape.from_config(config) is not None
            and hasattr(model, "transformer")
        )

    @classmethod
    def from_model(
        cls, model: torch.nn.Module, *, owns_model: bool = False, int8: bool = False
    ) -> GPT2Runner:
        """A runner over a transformers GPT-2 model's weights.

        With `owns_model` (the engine loaded it and nobody trains it), the Conv1D weights are
        packed for oneDNN where available and the model's Conv1D modules are swapped for
        `PackedConv1D`, so every weight is held once; otherwise the model is left untouched.
        """
        shape = GPT2Shape.from_config(model.config)
        assert shape is not None
        tensors = {name: p.detach() for name, p in model.named_parameters()}
        tensors["lm_head.weight"] = model.lm_head.weight.detach()
        runner = cls(shape, tensors, pack=owns_model, int8=owns_model and int8)
        if runner.packed or runner.transposed or runner.int8:
            for block, blk in zip(model.transformer.h, runner.blocks, strict=True):
                block.attn.c_attn, block.attn.c_proj = (
                    PackedConv1D(blk.attn),
                    PackedConv1D(blk.proj),
                )
                block.mlp.c_fc, block.mlp.c_proj = PackedConv1D(blk.fc), PackedConv1D(blk.out)
        return runner

    def __init__(
        self,
        shape: GPT2Shape,
        tensors: Mapping[str, torch.Tensor],
        *,
        pack: bool = False,
        int8: bool = False,
    ) -> None:
        """Build from GPT-2 tensors named as in its checkpoints ("transformer." prefix optional).

        `pack`: hold the four matrices of each block as oneDNN packed copies (where available),
        the fast layout; the caller should then drop its own references to the originals.
        `int8` (CPU, float32 tensors): hold them and the lm_head as per-channel int8 instead
        (the "int8" precision; activations, layer norms, attention and KV stay float32).
        """

        def t(name: str) -> torch.Tensor:
            for key in (f"transformer.{name}", name):
                if key in tensors:
                    return tensors[key]
            raise KeyError(f"checkpoint has no tensor {name!r}")

        self.n_head = shape.n_head
        self.d_model = shape.n_embd
        self.head_dim = self.d_model // self.n_head
        self.eps = shape.layer_norm_epsilon
        self.n_positions = shape.n_positions
        self.gelu_approx = "none" if shape.activation_function == "gelu" else "tanh"
        self.wte = t("wte.weight")
        self.wpe = t("wpe.weight")
        self.lnf_w = t("ln_f.weight")
        self.lnf_b = t("ln_f.bias")
        # [vocab, d]; GPT-2 ties it to the token embeddings.
        self.lm_head: torch.Tensor | None = tensors.get("lm_head.weight", self.wte)
        self.dtype = self.wte.dtype
        self.device = self.wte.device
        self.int8 = int8
        # int8 rounds each activation to one of 255 steps, so a last-bit difference upstream
        # (attention over 532 positions computed as one piece or as 512 cached + 20) can move a
        # value to the next step and the candidates for a seed would depend on what the prefix
        # cache held. In int8 the prompt is therefore always computed in pieces that end at
        # multiples of `chunk` positions (and the cache is reused only up to such a multiple:
        # FastGPT2Backend), so every position is computed by the same operations whatever the
        # cache held. fp32 needs no such care: its last-bit differences never reach a sample.
        self.chunk = 64 if int8 else 0
        # int8 holds the prompt's keys and values in bf16 (as llama.cpp holds its KV cache in
        # f16): half the memory, and half the bytes each decode step reads from them, which at
        # 512-1000 prompt tokens are 38-74 MB against the weights' 124 MB (measured: a 4-row
        # step at 960 tokens 17.0 -> 15.3 ms). They are rounded where they are made, so every
        # position attends to the same rounded numbers whether the cache held them or not;
        # the attention itself runs in float32. Its effect on quality is in bench's figures.
        self.kv_dtype = torch.bfloat16 if int8 else self.dtype
        if int8 and (self.device.type != "cpu" or self.dtype != torch.float32):
            raise ValueError("int8 weights need float32 tensors on the CPU")
        self.packed = pack and not int8 and packing_available(self.device, self.dtype)
        # On a GPU the engine's own weights are held transposed instead (see Linear).
        self.transposed = pack and self.device.type == "cuda"
        # A packed copy of the lm_head too (+154 MB for GPT-2 small; the embedding lookup still
        # needs the plain matrix): measured 6 ms instead of 11.5 ms per step for one candidate,
        # 2 ms instead of 7 ms in bf16.
        self.lm_head_packed = (
            torch.ops.mkldnn._reorder_linear_weight(self.lm_head, 4) if self.packed else None
        )
        # int8: the lm_head is a quarter of the bytes of each decode step in int8 (38.6 MB of
        # GPT-2 small's ~124 MB); the tied fp32 matrix stays for the embedding lookup.
        self.lm_head_int8 = Int8Linear(self.lm_head, None) if int8 else None
        if int8:
            # The embedding lookup then needs the matrix only for a few rows a step: held in
            # bf16 (-77 MB for GPT-2 small, what keeps the app under 0.6 GB), widened per row.
            self.wte = self.wte.to(torch.bfloat16)
            self.lm_head = None
        self.blocks: list[Block] = []
        for i in range(shape.n_layer):

            def lin(name: str, i: int = i) -> Linear:
                return Linear(
                    t(f"h.{i}.{name}.weight"),
                    t(f"h.{i}.{name}.bias"),
                    self.packed,
                    transpose=self.transposed,
                    int8=int8,
                )

            self.blocks.append(
                Block(
                    t(f"h.{i}.ln_1.weight"),
                    t(f"h.{i}.ln_1.bias"),
                    lin("attn.c_attn"),
                    lin("attn.c_proj"),
                    t(f"h.{i}.ln_2.weight"),
                    t(f"h.{i}.ln_2.bias"),
                    lin("mlp.c_fc"),
                    lin("mlp.c_proj"),
                )
            )
        self.scale = 1.0 / math.sqrt(self.head_dim)

    # -- pieces ---------------------------------------------------------------------------

    def _ln(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.d_model,), w, b, self.eps)

    def _mlp(self, blk: Block, h: torch.Tensor) -> torch.Tensor:
        return blk.out(blk.fc(self._ln(h, blk.ln2_w, blk.ln2_b), self.gelu_approx))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[..., T, d] -> [..., heads, T, head_dim]"""
        *lead, t, _ = x.shape
        return x.view(*lead, t, self.n_head, self.head_dim).transpose(-3, -2)

    def logits(self, h: torch.Tensor, rowwise: bool = False) -> torch.Tensor:
        """Final layer norm and lm_head for hidden states [rows, d] -> [rows, vocab] (float32).
        `rowwise` (decode, int8): each row's numbers independent of the others (quant.py)."""
        h = self._ln(h, self.lnf_w, self.lnf_b)
        if self.lm_head_int8 is not None:
            head = self.lm_head_int8
            out = head.rowwise(h) if rowwise else head(h)
        elif self.lm_head_packed is not None:
            out = torch.ops.mkldnn._linear_pointwise(h, self.lm_head_packed, None, "none", [], "")
        elif h.shape[0] <= _SMALL_ROWS:
            assert self.lm_head is not None
            out = torch.mm(self.lm_head, h.t()).t()
        else:
            out = F.linear(h, self.lm_head)
        return out.float()

    # -- prefill ----------------------------------------------------------------------------

    @torch.inference_mode()
    def prefill(
        self, ids: torch.Tensor, prefix: PrefixKV | None, *, all_logits: bool = False
    ) -> tuple[torch.Tensor, PrefixKV]:
        """Run the prompt tokens `ids` [T] after an optional cached `prefix`.

        Returns the logits of the last position [vocab] (of every position, [T, vocab], with
        `all_logits`: for measuring, as bench/quality.py does) and the KV of prefix + ids.
        """
        past = prefix.length if prefix is not None else 0
        t = ids.shape[0]
        if past + t > self.n_positions:
            raise ValueError(f"{past + t} positions exceed the model's {self.n_positions}")
        if self.chunk and past // self.chunk != (past + t - 1) // self.chunk:
            return self._prefill_chunks(ids, prefix, all_logits)
        pos = torch.arange(past, past + t, device=self.device)
        h = self.wte[ids].to(self.dtype) + self.wpe[pos]  # [T, d]
        keys: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        mask = None
        if past:
            # Query i (absolute position past+i) sees keys 0..past+i.
            mask = torch.ones(t, past + t, dtype=torch.bool, device=self.device).tril(past)
        for i, blk in enumerate(self.blocks):
            qkv = blk.attn(self._ln(h, blk.ln1_w, blk.ln1_b))
            q, k, v = (self._heads(x) for x in qkv.split(self.d_model, dim=-1))  # [H, T, hd]
            k, v = k.to(self.kv_dtype), v.to(self.kv_dtype)
            if past:
                k = torch.cat([prefix.keys[i], k], dim=1)
                v = torch.cat([prefix.values[i], v], dim=1)
            keys.append(k)
            values.append(v)
            k, v = k.to(self.dtype), v.to(self.dtype)
            a = F.scaled_dot_product_attention(
                q.unsqueeze(0),
                k.unsqueeze(0),
                v.unsqueeze(0),
                attn_mask=mask,
                is_causal=mask is None,
            )[0]
            a = a.transpose(0, 1).reshape(t, self.d_model)
            h = h + blk.proj(a)
            h = h + self._mlp(blk, h)
        if all_logits:
            return self.logits(h), PrefixKV(keys, values)
        return self.logits(h[-1:])[0], PrefixKV(keys, values)

    def _prefill_chunks(
        self, ids: torch.Tensor, prefix: PrefixKV | None, all_logits: bool
    ) -> tuple[torch.Tensor, PrefixKV]:
        """`prefill` in pieces that end at multiples of `chunk` positions (see `chunk`)."""
        past = prefix.length if prefix is not None else 0
        kv, pieces = prefix, []
        for start, end in self.pieces(past, ids.shape[0]):
            logits, kv = self.prefill(ids[start:end], kv, all_logits=all_logits)
            pieces.append(logits)
        assert kv is not None
        return (torch.cat(pieces) if all_logits else pieces[-1]), kv

    def pieces(self, past: int, count: int) -> list[tuple[int, int]]:
        """Where `count` prompt tokens after `past` cached ones split into pieces ending at
        multiples of `chunk` positions (int8; see `chunk`): (start, end) offsets into them."""
        bounds, start = [], 0
        while start < count:
            end = min(count, (past + start) // self.chunk * self.chunk + self.chunk - past)
            bounds.append((start, end))
            start = end
        return bounds

    # -- decode -----------------------------------------------------------------------------

    def new_suffix(self, batch: int, capacity: int) -> SuffixKV:
        return SuffixKV(
            len(self.blocks),
            batch,
            self.n_head,
            capacity,
            self.head_dim,
            self.dtype,
            self.device,
            # In int8 (see `chunk`) the products over the prompt run on a multiple of 8 rows:
            # the CPU's matrix kernels can take other code paths for other row counts
            # (measured here: 1-3 rows give other last bits than 4 or more), and a candidate
            # must come out the same alone (`--seed S -n 1`) as among others. With the same
            # shapes for 1-8 candidates that holds on any CPU; the padding costs little, since
            # these products read the prompt's keys and values once for all rows.
            pad_rows=8 if self.chunk else 0,
        )

    @torch.inference_mode()
    def decode(self, tokens: torch.Tensor, prefix: PrefixKV, suffix: SuffixKV) -> torch.Tensor:
        """One step for n candidates: `tokens` [n] at position prefix+suffix length.

        Every candidate shares `prefix` and has its own row in `suffix`. Returns logits [n, V].
        Rows may have different suffix lengths (after a phrase-ban rollback): each then writes
        at its own position and attends to its own length (stale positions masked out).

        Written for few operations a step: at one candidate the step is bound by the small
        operations around the matrix kernels (~60 a layer) nearly as much as by the kernels.
        """
        n = tokens.shape[0]
        heads, head_dim, d = self.n_head, self.head_dim, self.d_model
        p = prefix.length
        query = suffix.query  # [H, n, hd]
        query_rows = query.view(heads * n, head_dim, 1)
        if suffix.pad_rows:
            q_pad, q_real, p_pad, p_real = suffix.padded(p)
        if suffix.lengths is None:
            s = suffix.length
            top, where, hidden = s + 1, s, None
            h = self.wte[tokens].to(self.dtype) + self.wpe[p + s]  # [n, d]
        else:
            lengths = torch.tensor(suffix.lengths, dtype=torch.long, device=self.device)
            top = max(suffix.lengths) + 1
            rows = torch.arange(n, device=self.device)
            where = (slice(None), slice(None), rows, lengths)
            hidden = torch.arange(top, device=self.device)[None, :] > lengths[:, None]
            h = self.wte[tokens].to(self.dtype) + self.wpe[p + lengths]
        keys_t, values = prefix.keys_t, prefix.values
        upcast = p > 0 and values[0].dtype != self.dtype  # int8's bf16 prompt KV (`kv_dtype`)
        if upcast and p <= _UPCAST_ONCE:
            keys_t, values = suffix.prompt_as(prefix, self.dtype)
            upcast = False
        elif upcast:
            wide_k, wide_v = suffix.widening(self.dtype, p)
        for i, blk in enumerate(self.blocks):
            qkv = blk.attn.rowwise(self._ln(h, blk.ln1_w, blk.ln1_b)).view(n, 3, heads, head_dim)
            kv = suffix.kv[i]  # [2, H, n, cap, hd]
            if hidden is None:
                kv[:, :, :, where] = qkv[:, 1:].permute(1, 2, 0, 3)
            else:
                kv[where] = qkv[:, 1:].permute(1, 2, 0, 3)
            torch.mul(qkv[:, 0].transpose(0, 1), self.scale, out=query)
            # Scores against the shared prompt: all n queries of a head in one product.
            if upcast:  # widened into the same two buffers for every layer: no allocation
                prompt_k = wide_k.copy_(prefix.keys[i]).transpose(1, 2)
                prompt_v = wide_v.copy_(values[i])
            else:
                prompt_k, prompt_v = keys_t[i], values[i]
            if suffix.pad_rows:
                q_real.copy_(query)
                scores_p = torch.bmm(q_pad, prompt_k)[:, :n]  # [H, n, P]
            else:
                scores_p = torch.bmm(query, prompt_k)
            # Scores against each candidate's own suffix (including this token).
            scores_s = torch.bmm(suffix.keys_flat[i][:, :top], query_rows).view(heads, n, top)
            if hidden is not None:
                scores_s = scores_s.masked_fill(hidden, float("-inf"))
            probs = torch.softmax(torch.cat((scores_p, scores_s), -1), -1)  # [H, n, P+top]
            if suffix.pad_rows:
                p_real.copy_(probs[..., :p])
                a = torch.bmm(p_pad, prompt_v)[:, :n]  # [H, n, hd]
            else:
                a = torch.bmm(probs[..., :p], prompt_v)
            own = probs[..., p:].reshape(heads * n, 1, top)
            a = a + torch.bmm(own, suffix.values_flat[i][:, :top]).view(heads, n, head_dim)
            h = h + blk.proj.rowwise(a.transpose(0, 1).reshape(n, d))
            h = h + blk.out.rowwise(
                blk.fc.rowwise(self._ln(h, blk.ln2_w, blk.ln2_b), self.gelu_approx)
            )
        if hidden is None:
            suffix.length = s + 1
        else:
            suffix.lengths = [length + 1 for length in suffix.lengths]
            suffix.length = max(suffix.lengths)
            suffix._settle()
        return self.logits(h, True)
