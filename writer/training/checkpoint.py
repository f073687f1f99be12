"""In-progress fine-tunes: save, load and restore everything a run needs to continue exactly.

A checkpoint lives in `data_dir()/checkpoints/NAME/checkpoint.pt`, away from `models_dir()`, so
an unfinished run is never mistaken for a model. It holds the trainable weights, the optimizer
and scheduler state, and every RNG the run draws from (torch, CUDA, Python's `random`, and the
data-order generator), so a resumed run replays the same batches and dropout masks.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

from writer.errors import WriterError

FILE = "checkpoint.pt"


def folder(name: str) -> Path:
    """Where the checkpoint of fine-tune `name` lives."""
    from writer.paths import data_dir

    return data_dir() / "checkpoints" / name


def exists(name: str) -> bool:
    """Whether an interrupted run of `name` can be resumed."""
    return (folder(name) / FILE).is_file()


def rng_state(data_rng: Any) -> dict[str, Any]:
    """Every RNG state a training step draws from, as plain tensors/lists (weights_only-safe)."""
    import torch

    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "data": data_rng.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], data_rng: Any) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    data_rng.set_state(state["data"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(name: str, state: dict[str, Any]) -> Path:
    """Write `state` atomically (temp file, then rename); return the checkpoint folder."""
    import torch

    where = folder(name)
    where.mkdir(parents=True, exist_ok=True)
    temp = where / (FILE + ".tmp")
    torch.save(state, temp)
    os.replace(temp, where / FILE)
    return where


def load(name: str) -> dict[str, Any]:
    """The saved state of `name`'s interrupted run, or a one-line error saying there is none."""
    path = folder(name) / FILE
    if not path.is_file():
        raise WriterError(
            f"no interrupted fine-tune of {name!r} to resume; run without --resume to start one"
        )
    import torch

    try:
        # weights_only: the file holds tensors, numbers, strings and lists, never code.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WriterError(
            f"the checkpoint of {name!r} cannot be read ({type(exc).__name__}); start over "
            "with --overwrite"
        ) from None


def peek_step(name: str) -> tuple[int, int]:
    """(step, total steps) of an interrupted run, or (0, 0) if the file cannot be read."""
    try:
        state = load(name)
        return int(state["step"]), int(state["total_steps"])
    except (WriterError, KeyError, ValueError):
        return 0, 0


def restore(
    state: dict[str, Any],
    trainable: list[tuple[str, Any]],
    optimizer: Any,
    scheduler: Any,
    data_rng: Any,
) -> None:
    """Put weights, optimizer, scheduler and RNGs back as they were when `state` was saved."""
    import torch

    saved = state["trainable"]
    names = [n for n, _ in trainable]
    if sorted(saved) != sorted(names):
        raise WriterError("the checkpoint does not match this model; start over with --overwrite")
    with torch.no_grad():
        for n, p in trainable:
            p.copy_(saved[n].to(p.device))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"], data_rng)


def remove(name: str) -> None:
    """Delete `name`'s checkpoint (after the model is saved, or on --overwrite)."""
    shutil.rmtree(folder(name), ignore_errors=True)


def resolve_options(options: Any, saved: dict[str, Any] | None, defaults: dict[str, Any]) -> Any:
    """A copy of dataclass `options` to run with: when resuming (`saved`: the interrupted run's
    options), its values fill the flags left out and a flag that differs is refused (the device
    may change; the name is the key); else `defaults` fill what is left out."""
    import dataclasses

    resolved = dataclasses.replace(options)
    if saved is not None:
        for key, value in saved.items():
            given = getattr(options, key, None)
            if key in ("device", "name"):
                continue
            if given is None:
                setattr(resolved, key, value)
            elif given != value:
                flag = "--" + key.replace("_", "-")
                raise WriterError(
                    f"{flag} {given} differs from the interrupted run ({value}); drop {flag} "
                    "to resume, or start over with --overwrite"
                )
        return resolved
    for key, value in defaults.items():
        if getattr(resolved, key) is None:
            setattr(resolved, key, value)
    return resolved
