"""int8 matrices for the CPU: per-output-channel int8 weights, activations quantized per call.

Why this kernel: measured for one GPT-2 small decode step's matrices on two CPUs, an AMD
EPYC (Zen 4) and an Intel Xeon with AMX (2 threads; docs/benchmarks.md has the table), torch's
dynamic-quantization linear
(`quantized::linear_dynamic`, fbgemm; what `torch.ao.quantization.quantize_dynamic` runs) was
the fastest of every kernel tried: 2.5-4x faster than fp32 oneDNN-packed and ~2x faster than
bf16 oneDNN-packed, on the AMD EPYC (avx512_vnni, no AMX) and on the Intel Xeon with AMX alike.
Weight-only `_weight_int8pack_mm` was 2-10x slower than fp32 there, and oneDNN's
`qlinear_pointwise` (which needs the activation quantized in Python first) slower than fbgemm.
Decode reads weights, so a quarter of the bytes is most of the win.

The activation is quantized to uint8 with one scale per call (the kernel's contract); its
effect on the next-token distribution is measured by bench (`python -m bench.cpu_quality`).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


# The flags that decide which CPU path is fastest (printed by bench).
RELEVANT_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
    "amx_bf16",
)


def has_int8_dot() -> bool:
    """Whether the CPU multiplies uint8 x int8 with 32-bit sums (VNNI or AMX).

    Without it fbgemm's AVX2 kernel adds pairs of products in 16 bits, which can saturate, so
    activations must then use 7 bits (`reduce_range`), as quantize_dynamic does by default.
    """
    return bool({"avx512_vnni", "amx_int8"} & cpu_flags())


@functools.cache
def int8_available() -> bool:
    """Whether torch's dynamic-quantized linear runs here (x86 CPU builds with fbgemm)."""
    if _linear_dynamic is None or "fbgemm" not in torch.backends.quantized.supported_engines:
        return False
    try:
        linear = Int8Linear(torch.eye(4) * 0.5, torch.zeros(4))
        out = linear(torch.ones(1, 4))
        return bool(torch.allclose(out, torch.full((1, 4), 0.5), atol=0.02))
    except (RuntimeError, AttributeError):
        return False


# Looked up once: resolving torch.ops.quantized.* costs microseconds per call, 49 calls a step.
# `_op` is the C++ entry point: the Python packet's __call__ first scans the arguments for
# fake script objects (tracing), ~3 us a call here. (A torch build without the op leaves None:
# `int8_available` is then False.)
_linear_dynamic = getattr(getattr(torch.ops, "quantized", None), "linear_dynamic", None)
_linear_dynamic = getattr(_linear_dynamic, "_op", _linear_dynamic)


class Int8Linear:
    """y = x @ W^T + b with W [out, in] held as int8 per output channel (fbgemm packed)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        if torch.backends.quantized.engine not in ("x86", "fbgemm"):
            torch.backends.quantized.engine = (
                "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
            )
        w = weight.detach().float()
        # Symmetric per-row scales; a row of zeros keeps a harmless scale of 1.
        scale = (w.abs().amax(dim=1) / 127.0).double()
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        zero = torch.zeros(w.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            # torch 2.13 marks quantized tensors deprecated; fbgemm's kernel still takes them.
            warnings.simplefilter("ignore", UserWarning)
            q = torch.quantize_per_channel(w, scale, zero, 0, torch.qint8)
        self.bias = None if bias is None else bias.detach().float().contiguous()
        # Packed without the bias: the decode path adds it after its per-row scale (one op).
        self.packed = torch.ops.quantized.linear_prepack(q, None)
        self.out_features = w.shape[0]
        self.reduce_range = not has_int8_dot()
        # The kernel quantizes its whole input with one scale (from the input's min and max),
        # so a row's result depends on the rows beside it. For a prompt that is harmless (the
        # runner computes a prompt in the same pieces whatever the cache held), but a
        # candidate's decode row must not depend on the other candidates (`--seed S -n 1`
        # gives that candidate alone). `rowwise` divides each row by its largest magnitude
        # and adds a pinned row [-1, 1, 0, ...] that fixes the range at [-1, 1]: every row is
        # then quantized with its own scale, alike whatever else is in the call.
        self.pin = torch.zeros(1, w.shape[1])
        self.pin[0, 0], self.pin[0, 1] = -1.0, 1.0
        # The kernel's input with the pinned row in place, and a view of the rows above it (the
        # scaled rows are written there: no concatenation per call); made again when the row
        # count changes. Used by one decode at a time (the engine runs one request at a time).
        self._input = self._rows_view = torch.zeros(0)

    def __call__(self, x: torch.Tensor, gelu: str | None = None) -> torch.Tensor:
        """x: [..., in] -> [..., out], the whole input quantized with one scale (see above)."""
        if x.dim() != 2:
            out = self(x.reshape(-1, x.shape[-1]), gelu)
            return out.reshape(*x.shape[:-1], self.out_features)
        out = _linear_dynamic(x, self.packed, self.reduce_range)
        if self.bias is not None:
            out.add_(self.bias)
        return out if gelu is None else F.gelu(out, approximate=gelu)

    def rowwise(self, x: torch.Tensor, gelu: str | None = None) -> torch.Tensor:
        """x: [rows, in], each row quantized on its own (see `pin`); the decode step's call."""
        n = x.shape[0]
        if self._rows_view.shape[0] != n:
            self._input = torch.cat((x.new_zeros(n, x.shape[1]), self.pin))
            self._rows_view = self._input[:n]
        scale = x.abs().amax(1, keepdim=True).clamp_(min=1e-30)
        torch.div(x, scale, out=self._rows_view)
        out = _linear_dynamic(self._input, self.packed, self.reduce_range)[:n]
        out = out.mul_(scale) if self.bias is None else torch.addcmul(self.bias, out, scale)
        return out if gelu is None else F.gelu(out, approximate=gelu)
