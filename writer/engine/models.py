"""Resolve a model name and load it.

A name is one of:
- a local folder holding a Hugging Face model (`config.json` + weights + tokenizer);
- the name of a fine-tuned model in the data dir (`writer finetune --name NAME`), a folder
  `models/NAME/` with `manifest.json`; `"method": "lora"` folders hold a peft adapter in
  `adapter/` on top of `base`, `"method": "full"` folders hold a whole model;
- a hub id (`gpt2`, `distilgpt2`, `gpt2-medium`, ...), loaded from the Hugging Face cache, or
  downloaded when the hub is reachable (`writer download NAME`).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from writer.errors import WriterError

KNOWN_HUB_MODELS = ("gpt2", "distilgpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
DEFAULT_MODEL = "gpt2"
MANIFEST = "manifest.json"
# A fine-tuned model name is a plain file name: no path characters.
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A hub id with an owner, `owner/repo` (e.g. openai-community/gpt2), as the hub spells them.
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model name points."""

    name: str
    kind: str  # "folder", "finetuned" or "hub"
    location: str  # folder path or hub id
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """One entry of `list_models()` (the models screen and `writer models`)."""

    name: str
    kind: str  # "hub" (cached base model) or "finetuned"
    location: str
    manifest: dict[str, Any] = field(default_factory=dict)


def _looks_like_path(name: str) -> bool:
    if HUB_ID_RE.match(name) and ".." not in name:
        return False  # owner/repo: a hub id unless a folder of that name exists (checked first)
    return os.sep in name or name.startswith((".", "~")) or (os.altsep or "\0") in name


def shadowed_hub_id(name: str) -> str | None:
    """The hub id that a fine-tune called `name` would hide, if any (case-insensitive).

    Known base models always count; so does any model already in the local Hugging Face cache.
    """
    for hub_id in KNOWN_HUB_MODELS:
        if name.casefold() == hub_id.casefold():
            return hub_id
    if cached_snapshot(name) is not None:
        return name
    return None


def check_model_name(name: str | None) -> str:
    """`name` if it can name a fine-tuned model, else a one-line WriterError naming the fix."""
    if not isinstance(name, str) or not MODEL_NAME_RE.match(name):
        raise WriterError(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no slashes or spaces, at most 64 characters, not starting with '.')"
        )
    hub_id = shadowed_hub_id(name)
    if hub_id is not None:
        raise WriterError(
            f"model name {name!r} is taken by the hub model {hub_id!r}: a fine-tune with that "
            f"name would hide it; pick another name, such as my-{name}"
        )
    return name


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WriterError(
            f"fine-tuned model {folder.name!r} has no readable {MANIFEST} ({exc}); "
            f"retrain it with `writer finetune ... --name {folder.name} --overwrite`"
        ) from None


def resolve_model(name: str) -> ModelSource:
    """Decide what `name` refers to, without loading anything."""
    from writer.paths import models_dir

    if not isinstance(name, str) or not name.strip():
        raise WriterError("empty model name; pass a hub id such as gpt2, or a folder path")
    if "\0" in name:
        raise WriterError(f"invalid model name {name!r}: it contains a NUL character")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / MANIFEST).is_file():
            raise WriterError(
                f"{name} is a folder but not a model (no config.json); pass a folder saved with "
                "save_pretrained, or a hub id such as gpt2"
            )
        if (path / MANIFEST).is_file():
            return ModelSource(name, "finetuned", str(path), read_manifest(path))
        return ModelSource(name, "folder", str(path))
    if _looks_like_path(name):
        if os.path.lexists(path):
            raise WriterError(f"{name} is not a folder; pass a model folder or a hub id")
        raise WriterError(f"model folder {name} does not exist; check the path")
    # A known base model always means the hub model, even if an old fine-tune has its name
    # (`writer models rename` gives that one another name).
    if MODEL_NAME_RE.match(name) and name not in KNOWN_HUB_MODELS:
        folder = models_dir() / name
        if folder.is_dir():
            return ModelSource(name, "finetuned", str(folder), read_manifest(folder))
    return ModelSource(name, "hub", name)


def cached_snapshot(repo_id: str) -> Path | None:
    """The Hugging Face cache folder of hub model `repo_id`, if it is cached (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        from writer.paths import hf_hub_cache

        found = try_to_load_from_cache(repo_id, "config.json", cache_dir=hf_hub_cache())
    except Exception:  # an odd repo id or an unreadable cache: let transformers report it
        return None
    return Path(found).parent if isinstance(found, str) else None


def pick_device(device: str | None) -> str:
    """`device` if given and usable, else cuda when available, else cpu."""
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise WriterError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise WriterError(
            f"device {device!r} asked for but CUDA is not available; use --device cpu"
        )
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise WriterError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    if parsed.type == "mps" and not _mps_available():
        raise WriterError(
            f"device {device!r} asked for but Apple's MPS is not available here; use --device cpu"
        )
    if parsed.type == "cuda" and parsed.index is not None:
        count = torch.cuda.device_count()
        if parsed.index >= count:
            raise WriterError(
                f"device {device!r} asked for but this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1}); use one of them or --device cpu"
            )
    return str(parsed)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _offline_message(name: str) -> str:
    if name in KNOWN_HUB_MODELS:
        what = f"model {name!r} is not in the local Hugging Face cache"
    elif "/" in name:
        what = f"model {name!r} is not a local folder and not in the local Hugging Face cache"
    else:
        what = (
            f"model {name!r} is not a folder, a fine-tuned model (see `writer models`) or a "
            "cached hub model"
        )
    return (
        f"{what} and the hub cannot be reached; run `writer download {name}` when online, "
        "or pass --model PATH to a local model folder"
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the hub endpoint.

    Without it, an unreachable hub costs huggingface_hub's retry back-off (about 25 s per file)
    before we can say anything useful; with it, an offline author gets the answer at once.
    """
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(loader: Any, location: str, name: str, is_hub: bool, **kwargs: Any) -> Any:
    """Call `loader.from_pretrained`, cache first; turn hub/network failures into one line."""
    from huggingface_hub import is_offline_mode

    from writer.paths import hf_hub_cache

    if is_hub:
        kwargs["cache_dir"] = str(hf_hub_cache())
    try:
        return loader.from_pretrained(location, local_files_only=True, **kwargs)
    except OSError as exc:
        if not is_hub:
            raise WriterError(f"cannot load model from {location}: {_first_line(exc)}") from None
        if is_offline_mode() or not hub_reachable():
            raise WriterError(_offline_message(name)) from None
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":
            raise
        # A truncated or corrupt weights file (an interrupted copy or download).
        fix = f"`writer download {name}`" if is_hub else "copy the model again"
        raise WriterError(
            f"the weights of model {name!r} (model.safetensors in {location}) are damaged "
            f"({_first_line(exc)}); {fix}"
        ) from None
    try:
        return loader.from_pretrained(location, **kwargs)
    except OSError as exc:
        text = str(exc)
        if "is not a valid model identifier" in text or "Repository Not Found" in text:
            raise WriterError(
                f"unknown model {name!r}: not a folder, a fine-tuned model or a hub id; "
                f"try one of {', '.join(KNOWN_HUB_MODELS)} or see `writer models`"
            ) from None
        raise WriterError(_offline_message(name)) from None
    except Exception as exc:  # network layers raise many kinds (ConnectionError, HTTPError...)
        if type(exc).__module__.startswith(("requests", "httpx", "urllib3", "huggingface_hub")):
            raise WriterError(_offline_message(name)) from None
        raise


def _weight_kwargs(dtype: Any) -> dict[str, Any]:
    """from_pretrained arguments for the weights.

    Weights are read into memory rather than memory-mapped: the engine repacks GPT-2's matrices
    (see gpt2_runner), and pages of a mapping it has read stay resident while the mapping lives
    (measured: +340 MB RSS for GPT-2 small). Older transformers lack the option.
    """
    import inspect

    from transformers import PreTrainedModel

    kwargs: dict[str, Any] = {"dtype": dtype}
    if "disable_mmap" in inspect.signature(PreTrainedModel.from_pretrained).parameters:
        kwargs["disable_mmap"] = True
    return kwargs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_model_and_tokenizer(
    name: str, device: str | None = None, dtype: Any = None
) -> tuple[Any, Any, ModelSource]:
    """Load (model in eval mode on `device`, tokenizer, source) for `name`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model(name)
    device = pick_device(device)
    dtype = dtype or torch.float32
    is_hub = source.kind == "hub"
    if source.kind == "finetuned":
        model, tokenizer = _load_finetuned(source, dtype)
    else:
        tokenizer = _from_pretrained(AutoTokenizer, source.location, name, is_hub)
        model = _from_pretrained(
            AutoModelForCausalLM, source.location, name, is_hub, **_weight_kwargs(dtype)
        )
    check_finite_weights(model, name)
    model.to(device)
    model.eval()
    return model, tokenizer, source


def all_finite(tensor: Any) -> bool:
    """Whether every value of a float tensor is finite. A sum is NaN or infinite when any value
    is, and takes 0.06 s for GPT-2 small's 133M weights on one core where torch.isfinite takes
    1.9 s; only a sum that overflows is checked value by value."""
    import math

    import torch

    return math.isfinite(float(tensor.sum())) or bool(torch.isfinite(tensor).all())


def check_finite_weights(model: Any, name: str) -> None:
    """WriterError if a weight is NaN or infinite (a diverged fine-tune): such a model can only
    produce garbage, or NaN probabilities that sampling cannot use."""
    import torch

    with torch.no_grad():
        for weight_name, weight in model.named_parameters():
            if weight.is_floating_point() and not all_finite(weight):
                raise WriterError(
                    f"model {name!r} has weights that are not numbers (NaN or infinity, in "
                    f"{weight_name}), as a fine-tune that diverged leaves; fine-tune it again "
                    "with a lower --lr, or use another model"
                )


def _load_finetuned(source: ModelSource, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(source.location)
    method = source.manifest.get("method", "full")
    tokenizer = _from_pretrained(AutoTokenizer, str(folder), source.name, False)
    if method == "lora":
        from peft import PeftModel

        base_name = source.manifest.get("base")
        if not base_name:
            raise WriterError(f"fine-tuned model {source.name!r} has no base in its manifest")
        base = resolve_model(base_name)
        if base.kind == "finetuned":
            raise WriterError(f"fine-tuned model {source.name!r} has a fine-tuned base")
        model = _from_pretrained(
            AutoModelForCausalLM,
            base.location,
            base_name,
            base.kind == "hub",
            **_weight_kwargs(dtype),
        )
        # Merging folds the adapter into the weights: generation then runs at base speed.
        with warnings.catch_warnings():
            # peft still asks for transformers' deprecated `is_gradient_checkpointing`; the
            # FutureWarning is for peft's authors, not for someone generating text.
            warnings.filterwarnings(
                "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
            )
            adapter = PeftModel.from_pretrained(model, str(folder / "adapter"))
            model = adapter.merge_and_unload()
        return model, tokenizer
    model = _from_pretrained(
        AutoModelForCausalLM, str(folder), source.name, False, **_weight_kwargs(dtype)
    )
    return model, tokenizer


def list_models() -> list[ModelInfo]:
    """Base models in the Hugging Face cache, then fine-tuned models in the data dir."""
    from writer.paths import models_dir

    infos: list[ModelInfo] = []
    try:
        from huggingface_hub import scan_cache_dir

        from writer.paths import hf_hub_cache

        cache = hf_hub_cache()
        repos = scan_cache_dir(cache).repos if cache.is_dir() else []
        for repo in sorted(repos, key=lambda r: r.repo_id):
            if repo.repo_type == "model":
                infos.append(ModelInfo(repo.repo_id, "hub", str(repo.repo_path)))
    except Exception:  # no cache yet, or an unreadable one: list what we can
        pass
    root = models_dir()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not MODEL_NAME_RE.match(folder.name):  # e.g. a `.deleting-NAME` left by a crash
                continue
            if folder.is_dir() and (folder / MANIFEST).is_file():
                try:
                    manifest = read_manifest(folder)
                except WriterError:
                    manifest = {"error": f"unreadable {MANIFEST}"}
                infos.append(ModelInfo(folder.name, "finetuned", str(folder), manifest))
    return infos


def download(name: str) -> str:
    """Fetch hub model `name` into the Hugging Face cache (tqdm progress bar); return its path."""
    from huggingface_hub import is_offline_mode, snapshot_download

    if is_offline_mode():
        raise WriterError(
            f"cannot download {name!r}: HF_HUB_OFFLINE is set; unset it and run this when online"
        )
    if not hub_reachable():
        raise WriterError(
            f"cannot download {name!r}: the hub cannot be reached; check your connection, "
            "or pass --model PATH to a local model folder"
        )
    try:
        from writer.paths import hf_hub_cache

        return snapshot_download(
            name,
            cache_dir=str(hf_hub_cache()),
            allow_patterns=["*.json", "*.safetensors", "*.txt", "merges.txt", "vocab.json"],
        )
    except Exception as exc:
        if "Repository Not Found" in str(exc) or "404" in str(exc):
            raise WriterError(f"no model {name!r} on the hub; check the name") from None
        raise WriterError(
            f"cannot download {name!r}: the hub cannot be reached ({_first_line(exc)}); "
            "check your connection, or pass --model PATH to a local model folder"
        ) from None
