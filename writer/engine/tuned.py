"""The results of a fine-tune: the before/after sample and the saved model folder.

Split from writer.engine.finetune to keep each module to one role: this one writes the folder
format writer.engine.models loads, and takes the sample shown in the before/after report.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from writer.engine.evaluate import model_context
from writer.engine.models import MANIFEST

SAMPLE_TOKENS = 40


def prompt_from(tokenizer: Any, holdout_ids: Sequence[int], words: int = 8) -> str:
    """The first words of the held-out text: a prompt in the author's style, unseen in training."""
    text = tokenizer.decode(list(holdout_ids[:64]), skip_special_tokens=True)
    parts = text.split()
    if len(parts) > 2 and not text[:1].isspace():
        parts = parts[1:]  # the split may have cut the first word in half
    return " ".join(parts[:words]) or "Once upon a time"


def sample(model: Any, tokenizer: Any, prompt: str, seed: int) -> str:
    """One continuation of `prompt` sampled with `seed` (the same for the base and tuned model).

    Uses plain `model.generate`: the before/after comparison needs the same sampling settings for
    both models, not the app's presets or prefix cache.
    """
    import torch

    device = next(model.parameters()).device
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
    limit = model_context(model)
    ids = ids[:, -(limit - SAMPLE_TOKENS) :]
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                top_p=0.95,
                temperature=0.8,
                max_new_tokens=SAMPLE_TOKENS,
                pad_token_id=tokenizer.eos_token_id,
            )
    finally:
        model.train(was_training)
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def save_tuned_model(target: Path, model: Any, tokenizer: Any, method: str, manifest: dict) -> None:
    """Write into a hidden sibling folder, manifest last, then swap it into place.

    A folder without manifest.json is not a model, and a crash mid-save never leaves a
    half-written model under the real name (nor destroys the one being overwritten).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.saving"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    tokenizer.save_pretrained(staging)
    if method == "lora":
        model.save_pretrained(staging / "adapter")
    else:
        model.save_pretrained(staging)
    manifest = {**manifest, "files_saved": sorted(p.name for p in staging.iterdir())}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    old = target.parent / f".{target.name}.old"
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
