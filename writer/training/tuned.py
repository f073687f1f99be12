"""The results of a fine-tune: the before/after sample and the saved model folder.

Split from writer.training.finetune to keep each module to one role: this one writes the folder
format writer.engine.models loads, and takes the sample shown in the before/after report.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from writer.engine.models import (
    HUB_ID_RE,
    KNOWN_HUB_MODELS,
    MANIFEST,
    MODEL_NAME_RE,
    check_model_name,
)
from writer.errors import WriterError
from writer.training import checkpoint

SAMPLE_TOKENS = 40


def prompt_from(tokenizer: Any, holdout_ids: Sequence[int], words: int = 8) -> str:
    """The first words of the held-out text: a prompt in the author's style, unseen in training."""
    text = tokenizer.decode(list(holdout_ids[:64]), skip_special_tokens=True)
    parts = text.split()
    if len(parts) > 2 and not text[:1].isspace():
        parts = parts[1:]  # the split may have cut the first word in half
    return " ".join(parts[:words]) or "Once upon a time"


def sample(model: Any, tokenizer: Any, prompt: str, seed: int) -> str:
    """One continuation of `prompt` with `seed`, through the app's Engine and the built-in
    default preset (not the user's overrides), so the base and tuned model are sampled alike and
    `writer generate PROMPT --model NAME --seed SEED -n 1 --max-new-tokens 40 --stop none`
    reproduces the "after" sample.
    """
    from writer.engine.generate import Engine
    from writer.presets import BUILTIN_PRESETS, DEFAULT_PRESET

    params = BUILTIN_PRESETS[DEFAULT_PRESET].params.replace(
        max_new_tokens=SAMPLE_TOKENS, stop="none"
    )
    device = str(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        engine = Engine(model, tokenizer, name="finetune", device=device)
        return engine.generate(prompt, params, n=1, seed=seed)[0].text
    finally:
        model.train(was_training)


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


def _finetuned_folder(name: str) -> Path:
    """The folder of fine-tune `name`, or a one-line WriterError saying what `name` is instead."""
    from writer.paths import models_dir

    folder = models_dir() / name
    if MODEL_NAME_RE.match(name or "") and folder.is_dir() and not folder.is_symlink():
        return folder
    if name in KNOWN_HUB_MODELS or HUB_ID_RE.match(name or ""):
        raise WriterError(
            f"{name!r} is a hub model, not one of your fine-tunes; only fine-tunes can be "
            "renamed or deleted here (see `writer models`)"
        )
    raise WriterError(f"no fine-tuned model named {name!r}; see `writer models`")


def delete_finetuned(name: str) -> Path:
    """Delete fine-tune `name` (and any interrupted run of it); return the folder it was in.

    The folder is first renamed aside, so a failure half-way never leaves a half model that
    `writer models` would still list as usable.
    """
    folder = _finetuned_folder(name)
    trash = folder.with_name(f".deleting-{name}-{os.getpid()}")
    try:
        os.rename(folder, trash)
        shutil.rmtree(trash)
        checkpoint.remove(name)
    except OSError as exc:
        raise WriterError(f"cannot delete {folder}: {exc.strerror or exc}") from None
    return folder


def rename_finetuned(old: str, new: str) -> Path:
    """Rename fine-tune `old` to `new` (a valid name that no model has); return the new folder."""
    folder = _finetuned_folder(old)
    check_model_name(new)
    target = folder.with_name(new)
    if os.path.lexists(target) or checkpoint.exists(new):
        raise WriterError(
            f"a model named {new!r} already exists; pick another name, or delete it first "
            f"with `writer models delete {new}`"
        )
    try:
        os.rename(folder, target)
        if checkpoint.folder(old).is_dir():
            os.rename(checkpoint.folder(old), checkpoint.folder(new))
    except OSError as exc:
        raise WriterError(f"cannot rename {folder} to {new!r}: {exc.strerror or exc}") from None
    _rename_in_manifest(target, new)
    return target


def _rename_in_manifest(folder: Path, name: str) -> None:
    """Record the new name in the manifest (atomically); the folder name is what counts."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("name") == name:
            return
        manifest["name"] = name
        tmp = folder / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)
    except (OSError, ValueError):
        pass  # the model works under its new folder name either way
