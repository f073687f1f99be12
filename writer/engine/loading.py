"""Loading a model into an Engine: the precision for this device, torch's thread count, and the
fast GPT-2 path (no transformers model code) or transformers for anything else.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from writer.engine.generate import Engine
from writer.errors import WriterError


def default_threads() -> int:
    """Torch intra-op threads: WRITER_THREADS if set, else every core this process may use."""
    env = os.environ.get("WRITER_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise WriterError(f"WRITER_THREADS must be a whole number; got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


PRECISIONS = ("auto", "fp32", "bf16", "int8")


def auto_precision(device: str) -> str:
    """The fastest precision that meets the quality bound (top-1 agreement with fp32 >= 99%,
    mean KL <= 0.01 nats, on a trained model: bench/peaked.py) on this device.

    CUDA with bf16: "bf16" (measured on an H100 with `python -m bench.gpu_check`: 99.07% top-1,
    mean KL 5e-5 over 4,096 held-out positions; W1 on GPT-2 XL 0.37 s against 0.62 s in fp32).
    x86 CPUs (fbgemm): "int8", measured fastest on both CPU kinds met (README) and within the
    bound (`python -m bench.run --quality`); its candidates for a seed do not depend on the
    prefix cache, the other candidates or the thread count (quant.py, GPT2Runner.chunk).
    Elsewhere "fp32", the exact mode.
    """
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    if device == "cpu":
        from writer.engine.gpt2.quant import int8_available

        if int8_available():
            return "int8"
    return "fp32"


def load_engine(
    name_or_path: str,
    device: str | None = None,
    *,
    precision: str = "auto",
    threads: int | None = None,
) -> Engine:
    """Load a model by hub id, folder or fine-tuned name and wrap it in an Engine.

    `precision` "fp32" (exactly the model's distribution), "bf16" (faster, slightly different
    numbers; see bench/ for its measured agreement), "int8" (CPU only: int8 weights, float32
    activations; fastest on x86 CPUs) or "auto" (default: `auto_precision`).
    `threads` sets torch's intra-op threads (default: `default_threads()`).

    Plain GPT-2 folders load through `writer.engine.gpt2.weights` (no transformers model code,
    a second faster); anything else through transformers.
    """
    from writer.engine.gpt2.weights import fast_loadable, load_checkpoint
    from writer.engine.models import (
        cached_snapshot,
        load_model_and_tokenizer,
        pick_device,
        resolve_model,
    )

    if precision not in PRECISIONS:
        raise WriterError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    torch.set_num_threads(threads or default_threads())
    if precision == "auto":
        device = pick_device(device)
        precision = auto_precision(device)
    if precision == "int8":
        from writer.engine.gpt2.quant import int8_available

        device = pick_device(device)
        if device != "cpu" or not int8_available():
            raise WriterError(
                "precision int8 needs an x86 CPU (torch's fbgemm kernels); "
                "use --precision auto, fp32 or bf16"
            )
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    source = resolve_model(name_or_path)
    folder = None
    if source.kind == "folder" or (
        source.kind == "finetuned" and source.manifest.get("method", "full") == "full"
    ):
        folder = Path(source.location)
    elif source.kind == "hub":
        folder = cached_snapshot(source.location)
    config = fast_loadable(folder) if folder is not None else None
    if folder is not None and config is not None:
        device = pick_device(device)
        checkpoint, tokenizer = load_checkpoint(folder, config, device, dtype)
        return Engine(
            checkpoint,
            tokenizer,
            name=name_or_path,
            device=device,
            precision=precision,
            owns_model=True,
        )

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own status line reports loading
    model, tokenizer, source = load_model_and_tokenizer(name_or_path, device=device, dtype=dtype)
    return Engine(
        model,
        tokenizer,
        name=name_or_path,
        device=str(model.device),
        precision=precision,
        owns_model=True,
    )
