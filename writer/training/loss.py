"""The training loss of a causal LM without its full logits: next-token cross-entropy computed
over the sequence a chunk of positions at a time, into one buffer kept for the whole run.

Why: the usual `model(input_ids, labels=...).loss` makes the [batch, length, vocab] float32
logits, their log-softmax and their gradient, each step: with GPT-2's 50,257-token vocabulary
that is 100-400 MB per micro-batch, allocated and freed every step. glibc hands buffers that
large straight back to the OS, so every step page-faults them in again, and the time went to
the kernel (measured: 2/3 of a tiny model's fine-tune was system time). Here the lm_head and
the cross-entropy run fused per chunk of positions (as Liger-Kernel's fused linear
cross-entropy does on GPUs): the forward pass also computes the gradients with respect to the
hidden states (and the lm_head weight when it is trained), so nothing vocabulary-sized
outlives a chunk, and the chunk's logits live in one buffer reused every step. The numbers are
the same cross-entropy (float32 logits, mean over the predicted positions).

Under bf16 autocast the two products per chunk (logits, and the hidden states' gradient) run
in bf16 as autocast would run the lm_head, with a frozen output layer cast once per run rather
than once per micro-batch; the softmax and the loss stay float32. On GPT-2 small these products
are a third of a LoRA step's arithmetic (768 x 50,257 per position, twice).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from writer.engine.gpt2.quant import cpu_flags
from writer.errors import WriterError

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# Positions per chunk: 256 x 50,257 float32 logits are 51 MB, reused every chunk and step.
CHUNK = 256


class _Buffers:
    """The per-run scratch memory: one chunk's logits and the lm_head's gradient."""

    def __init__(self) -> None:
        self.logits: torch.Tensor | None = None
        self.low_logits: torch.Tensor | None = None
        self.grad_weight: torch.Tensor | None = None
        self.low_weight: tuple[torch.Tensor, int, torch.Tensor] | None = None

    def low_logits_for(self, rows: int, vocab: int, like: torch.Tensor) -> torch.Tensor:
        buf = self.low_logits
        if buf is None or buf.shape[0] < rows or buf.shape[1] != vocab or buf.device != like.device:
            buf = self.low_logits = torch.empty(rows, vocab, dtype=like.dtype, device=like.device)
        return buf[:rows]

    def weight_in(self, weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """`weight` in `dtype`; a frozen weight's copy is made once and kept (a trained one
        changes every step: cast each time). Keyed by the tensor's version counter, so an
        in-place change to a frozen weight is still seen."""
        if weight.requires_grad:
            return weight.detach().to(dtype)
        held = self.low_weight
        if held is None or held[0] is not weight or held[1] != weight._version:
            held = self.low_weight = (weight, weight._version, weight.detach().to(dtype))
        return held[2]

    def logits_for(self, rows: int, vocab: int, like: torch.Tensor) -> torch.Tensor:
        buf = self.logits
        if buf is None or buf.shape[0] < rows or buf.shape[1] != vocab or buf.device != like.device:
            buf = self.logits = torch.empty(rows, vocab, dtype=torch.float32, device=like.device)
        return buf[:rows]

    def grad_weight_for(self, weight: torch.Tensor) -> torch.Tensor:
        buf = self.grad_weight
        if buf is None or buf.shape != weight.shape or buf.device != weight.device:
            buf = self.grad_weight = torch.empty_like(weight, dtype=torch.float32)
        return buf.zero_()


class _LinearCrossEntropy(torch.autograd.Function):
    """mean over rows of CE(hidden @ weight^T, targets), gradients computed in the forward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        buffers: _Buffers,
        chunk: int,
        low: torch.dtype | None,
    ) -> torch.Tensor:
        rows, vocab = hidden.shape[0], weight.shape[0]
        w = weight.float() if low is None else buffers.weight_in(weight, low)
        h = hidden.float()
        h_mm = h if low is None else hidden.to(low)
        grad_hidden = torch.empty_like(h_mm)
        grad_weight = buffers.grad_weight_for(weight) if ctx.needs_input_grad[1] else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, rows, chunk):
            end = min(rows, start + chunk)
            part, want = h[start:end], targets[start:end]
            logits = buffers.logits_for(end - start, vocab, h)
            if low is None:
                torch.mm(part, w.t(), out=logits)
            else:  # bf16 products (as autocast makes them), the softmax in float32
                low_logits = buffers.low_logits_for(end - start, vocab, h_mm)
                logits.copy_(torch.mm(h_mm[start:end], w.t(), out=low_logits))
            picked = logits.gather(1, want[:, None])[:, 0]
            top = logits.amax(dim=1)
            # exp(logits - max) in place: the softmax's numerators, summed for its normaliser.
            sums = logits.sub_(top[:, None]).exp_().sum(dim=1)
            total += (top + sums.log() - picked).sum()
            # d(mean CE)/d(logits) = (softmax - one_hot) / rows, made in the logits' buffer.
            logits.mul_((1.0 / (sums * rows))[:, None])
            logits[torch.arange(end - start, device=logits.device), want] -= 1.0 / rows
            if low is None:
                torch.mm(logits, w, out=grad_hidden[start:end])
            else:
                torch.mm(low_logits.copy_(logits), w, out=grad_hidden[start:end])
            if grad_weight is not None:
                grad_weight.addmm_(logits.t(), part)
        ctx.save_for_backward(grad_hidden.to(hidden.dtype))
        ctx.grad_weight = grad_weight
        ctx.weight_dtype = weight.dtype
        return total / rows

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        (grad_hidden,) = ctx.saved_tensors
        grad_weight = None
        if ctx.grad_weight is not None:  # a new tensor: autograd may keep it as the .grad
            grad_weight = (ctx.grad_weight * grad_output).to(ctx.weight_dtype)
        return grad_hidden * grad_output, grad_weight, None, None, None, None


class LanguageModelLoss:
    """`loss(input_ids)`: the mean next-token cross-entropy of a causal LM on `input_ids`
    [batch, length], as `model(input_ids, labels=input_ids).loss` gives it. Fused and chunked
    (see the module docstring) for a model with a body and an output embedding (GPT-2, also
    wrapped in a peft adapter); other models run their own loss."""

    def __init__(self, model: Any, chunk: int = CHUNK) -> None:
        self.model = model
        self.chunk = chunk
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
        body = getattr(inner, "base_model", None)
        fused = (
            isinstance(head, torch.nn.Linear)
            and head.bias is None
            and body is not None
            and body is not inner
        )
        self.body = body if fused else None
        self.head = head if fused else None
        self.buffers = _Buffers()

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.body is None or self.head is None:
            return self.model(input_ids=input_ids, labels=input_ids).loss
        hidden = self.body(input_ids=input_ids).last_hidden_state  # [B, T, d]
        d = hidden.shape[-1]
        predicting = hidden[:, :-1].reshape(-1, d)
        targets = input_ids[:, 1:].reshape(-1)
        low = None
        if torch.is_autocast_enabled(hidden.device.type):
            low = torch.get_autocast_dtype(hidden.device.type)
        return _LinearCrossEntropy.apply(
            predicting, self.head.weight, targets, self.buffers, self.chunk, low
        )


def bf16_available(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 natively: a CPU with avx512_bf16 or amx_bf16, or a
    GPU with bf16. Elsewhere bf16 products are emulated and slower than float32."""
    if device.type == "cpu":
        return bool(BF16_FLAGS & cpu_flags())
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return False


def bf16_autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast for the training forward and the loss's products (`--bf16`), or
    nothing. On a CPU it needs bf16 instructions: without them bf16 products are emulated and
    slower than float32."""
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cpu" and not BF16_FLAGS & cpu_flags():
        raise WriterError(
            "--bf16 needs a CPU with bfloat16 instructions (avx512_bf16 or amx_bf16) or a GPU; "
            "train without --bf16"
        )
    return torch.autocast(device.type, dtype=torch.bfloat16)
