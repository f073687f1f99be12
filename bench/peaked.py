"""A GPT-2-shaped model with peaked next-token distributions, for judging reduced precisions.

Random weights give nearly flat distributions, on which top-1 agreement and KL between
precisions mean nothing (any two argmaxes of near-ties disagree by chance; every KL is tiny). A
trained model is needed, and the hub is unreachable, so this trains one: GPT-2 small's shape (or
any bench shape) from random weights on Python's own standard library, the one large body of
real text every machine here has. Source code is predictable enough that a few hundred steps give
a model that is confident at most positions, like a trained language model on prose.

Even files train, odd files are held out. The model is saved (safetensors + GPT-2's tokenizer)
and cached like bench/models.py's, so `load_engine(folder, precision=...)` loads it in any
precision through the engine's own loader.
"""

from __future__ import annotations

import math
import os
import shutil
import sysconfig
from pathlib import Path
from typing import Any

DONE_MARK = ".bench-complete"


def stdlib_texts() -> tuple[str, str]:
    """(training text, held-out text) from the standard library's top-level modules."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    return "\n".join(texts[0::2]), "\n".join(texts[1::2])


# About 1.3M tokens: 2-3 passes over it in the default 400 steps of 32 x 256 tokens.
TRAIN_CHARS = 4_000_000


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Tokenize in line-aligned pieces, batched (the fast tokenizer runs a batch in parallel)."""
    lines = text.splitlines(keepends=True)
    pieces = ["".join(lines[i : i + 200]) for i in range(0, len(lines), 200)]
    ids: list[int] = []
    for piece in tokenizer(pieces, add_special_tokens=False)["input_ids"]:
        ids.extend(piece)
    return ids


def heldout_ids(tokenizer: Any, count: int) -> list[int]:
    """`count` tokens of held-out text (never trained on)."""
    _, heldout = stdlib_texts()
    return _encode(tokenizer, heldout[: count * 8])[:count]


def build_peaked(
    models_dir: Path,
    tokenizer_dir: Path,
    *,
    shape: dict[str, int] | None = None,
    steps: int = 400,
    device: str = "cuda",
    seed: int = 0,
    batch: int = 32,
    seq: int = 256,
    lr: float = 6e-4,
) -> Path:
    """Train (once) and save a peaked GPT-2; returns its folder.

    On a GPU the defaults (400 steps of 32 x 256 tokens) take about a minute. On a 2-core CPU
    `bench.cpu_quality` trains a 6-layer, 384-wide model with short small steps instead (120
    of 8 x 128 tokens): GPT-2 small's shape took ~40 s a step on a busy 2-core machine.
    """
    shape = shape or dict(n_embd=768, n_layer=12, n_head=12)
    tag = f"peaked-{shape['n_embd']}x{shape['n_layer']}-s{steps}-seed{seed}"
    if (batch, seq, lr) != (32, 256, 6e-4):
        tag += f"-b{batch}x{seq}-lr{lr:g}"
    folder = models_dir / tag
    if (folder / DONE_MARK).is_file():
        return folder
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    train_text, _ = stdlib_texts()
    ids = torch.tensor(_encode(tokenizer, train_text[:TRAIN_CHARS]))
    torch.manual_seed(seed)
    config = GPT2Config(
        **shape,
        n_positions=1024,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config).to(device).train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        warmup = min(40, max(1, steps // 10))
        rate = lr * min(1.0, (step + 1) / warmup) * (0.5 + 0.5 * math.cos(math.pi * step / steps))
        for group in optim.param_groups:
            group["lr"] = rate
        starts = torch.randint(0, len(ids) - seq - 1, (batch,), generator=gen)
        x = torch.stack([ids[s : s + seq] for s in starts.tolist()]).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            loss = model(x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        if step % 20 == 0 or step == steps - 1:
            print(f"peaked model: step {step + 1}/{steps} loss {loss.item():.3f}", flush=True)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{tag}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.eval().float().cpu().save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / DONE_MARK).write_text(f"steps={steps}\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def agreement(reference: Any, other: Any, ids: list[int]) -> dict[str, float]:
    """Top-1 agreement and KL(reference || other) over `ids`, teacher-forced in windows of
    the model's context, through each engine's own runner (the arithmetic it really uses)."""
    import torch

    ref_runner, other_runner = reference.backend.runner, other.backend.runner
    window = ref_runner.n_positions
    agree, kls, tops, nll, total = 0.0, [], [], 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(ids) - 1, window):
            chunk = ids[start : start + window]
            if len(chunk) < 2:
                break
            a, _ = ref_runner.prefill(
                torch.tensor(chunk, device=ref_runner.device), None, all_logits=True
            )
            b, _ = other_runner.prefill(
                torch.tensor(chunk, device=other_runner.device), None, all_logits=True
            )
            ref = torch.log_softmax(a.double().cpu(), dim=-1)
            red = torch.log_softmax(b.double().cpu(), dim=-1)
            kls.append((ref.exp() * (ref - red)).sum(dim=-1))
            tops.append(ref.exp().max(dim=-1).values)
            targets = torch.tensor(chunk[1:])
            nll -= float(ref[:-1].gather(1, targets[:, None]).sum())
            agree += float((ref.argmax(-1) == red.argmax(-1)).sum())
            total += len(chunk)
    kl = torch.cat(kls)
    windows = len(kls)
    return {
        "positions": total,
        "top1_agreement": agree / total,
        "mean_kl": float(kl.mean()),
        "max_kl": float(kl.max()),
        # How peaked the reference is: its mean top-1 probability and held-out perplexity.
        "reference_mean_top_prob": float(torch.cat(tops).mean()),
        "reference_perplexity": math.exp(nll / (total - windows)),
    }
