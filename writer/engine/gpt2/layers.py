"""The GPT-2 runner's layers: a Conv1D's product held the fastest way this machine allows
(oneDNN-packed, int8 or plain), the module that stands in for a packed Conv1D inside the
transformers model, and one block's weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from writer.engine.gpt2.quant import Int8Linear


def packing_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether oneDNN weight packing works here (x86 CPU builds of torch)."""
    if device.type != "cpu" or dtype not in (torch.float32, torch.bfloat16):
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        w = torch.ones(2, 2, dtype=dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(w, 1)
        out = torch.ops.mkldnn._linear_pointwise(
            torch.ones(1, 2, dtype=dtype), packed, None, "none", [], ""
        )
        return bool(torch.allclose(out.float(), torch.full((1, 2), 2.0)))
    except (AttributeError, RuntimeError):
        return False


class Linear:
    """y = x @ W + b for a GPT-2 Conv1D, with W held the fastest way available.

    Packed: a oneDNN blocked copy of W (the Conv1D's own weight can then be dropped).
    Int8: per-channel int8 (see quant.py), for the "int8" precision.
    Plain: the Conv1D's weight as it is, through `addmm`, as transformers computes it; used for
    a model the caller owns (fine-tuning samples), whose weights must stay shared and trainable.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor,
        pack: bool,
        transpose: bool = False,
        int8: bool = False,
    ) -> None:
        """`weight` is a Conv1D weight, [in, out]. `transpose` (GPU, engine-owned weights):
        hold it as [out, in] for `F.linear`, the layout cuBLAS reads fastest with few rows."""
        self.bias = bias
        self.out_features = weight.shape[1]
        self.int8 = Int8Linear(weight.t(), bias) if int8 else None
        pack = pack and not int8
        self.packed = (
            torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous(), 4) if pack else None
        )
        self.weight_t = weight.t().contiguous() if transpose and not pack and not int8 else None
        self.weight = None if pack or transpose or int8 else weight
        # The decode step's call (each row independent of the others in int8; quant.py).
        self.rowwise = self.int8.rowwise if self.int8 is not None else self.__call__

    def __call__(self, x: torch.Tensor, gelu: str | None = None) -> torch.Tensor:
        if self.int8 is not None:
            return self.int8(x, gelu)
        if self.packed is not None:
            if gelu is None:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu", [], gelu)
        if self.weight_t is not None:
            out = F.linear(x, self.weight_t, self.bias)
            return out if gelu is None else F.gelu(out, approximate=gelu)
        shape = x.shape[:-1]
        out = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        out = out.reshape(*shape, self.out_features)
        return out if gelu is None else F.gelu(out, approximate=gelu)


class PackedConv1D(torch.nn.Module):
    """Stands in for a transformers Conv1D whose weight was packed: same forward, inference only.

    The runner swaps these into the model it owns so the weights are held once, and the
    transformers model (used by `Engine.model` callers and the fallback back end) still works.
    """

    def __init__(self, linear: Linear) -> None:
        super().__init__()
        self.linear = linear
        self.nf = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


@dataclass
class Block:
    """One transformer block's weights: its two layer norms, attention and MLP projections."""

    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    attn: Linear  # d -> 3d (q, k, v)
    proj: Linear  # d -> d
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor
    fc: Linear  # d -> 4d
    out: Linear  # 4d -> d
