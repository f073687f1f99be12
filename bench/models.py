"""GPT-2-shaped models for the benchmark, built offline and cached on disk.

A randomly initialised GPT-2 small has the real model's shapes, so it runs at the real model's
speed; the real weights are not needed (and the hub is not reachable here). It is paired with
GPT-2's real tokenizer, so prompts tokenize exactly as they would for an author.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / ".bench-models"
# CI checks the shared tokenizer out next to the repository.
DEFAULT_TOKENIZER = REPO_ROOT.parent / "shared" / "gpt2-tokenizer"
DONE_MARK = ".bench-complete"


@dataclass(frozen=True)
class ModelSpec:
    """A GPT-2 configuration to build: `small` is GPT-2 small, `tiny` is for --quick runs."""

    name: str
    n_embd: int
    n_layer: int
    n_head: int
    n_positions: int = 1024


SPECS = {
    "small": ModelSpec("gpt2-small-random", n_embd=768, n_layer=12, n_head=12),
    "tiny": ModelSpec("gpt2-tiny-random", n_embd=64, n_layer=2, n_head=2),
    # GPT-2's bigger sizes (real shapes, random weights): 355M, 774M, 1.56B parameters.
    "medium": ModelSpec("gpt2-medium-random", n_embd=1024, n_layer=24, n_head=16),
    "large": ModelSpec("gpt2-large-random", n_embd=1280, n_layer=36, n_head=20),
    "xl": ModelSpec("gpt2-xl-random", n_embd=1600, n_layer=48, n_head=25),
}


def resolve_tokenizer(path: str | os.PathLike[str] | None) -> Path:
    """The GPT-2 tokenizer folder: `path`, else ../shared/gpt2-tokenizer next to the repo."""
    folder = Path(path).expanduser() if path else DEFAULT_TOKENIZER
    if not (folder / "tokenizer.json").is_file():
        raise SystemExit(
            f"bench: error: no GPT-2 tokenizer at {folder} (tokenizer.json missing); "
            "pass --tokenizer PATH to a folder holding GPT-2's tokenizer.json"
        )
    return folder


def build_model(spec: ModelSpec, models_dir: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """Save a seeded random GPT-2 of `spec` with the real tokenizer; reuse it if already saved.

    The folder is written under a temporary name and renamed when complete, so an interrupted
    build is never mistaken for a model.
    """
    folder = models_dir / f"{spec.name}-seed{seed}"
    if (folder / DONE_MARK).is_file():
        return folder
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    config = GPT2Config(
        n_embd=spec.n_embd,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        n_positions=spec.n_positions,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / DONE_MARK).write_text(f"seed={seed}\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def build_ct2(model_dir: Path) -> Path | None:
    """CTranslate2 int8 conversion of `model_dir`, cached next to it; None if not installed."""
    try:
        import ctranslate2
    except ImportError:
        return None
    out = model_dir.parent / f"{model_dir.name}-ct2-int8"
    if (out / DONE_MARK).is_file():
        return out
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    ctranslate2.converters.TransformersConverter(str(model_dir)).convert(
        str(tmp), quantization="int8", force=True
    )
    (tmp / DONE_MARK).write_text("int8\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def write_hf_cache_layout(model_dir: Path, hf_home: Path, repo_id: str = "gpt2") -> Path:
    """Lay `model_dir` out as the Hugging Face cache entry of `repo_id` under `hf_home`.

    Afterwards `HF_HOME=hf_home HF_HUB_OFFLINE=1 writer generate --model gpt2` loads this
    model through the default (hub id) path, offline. Files are hard-linked where possible
    (copied otherwise); the commit hash is derived from the folder's name so reruns agree.
    Returns the snapshot folder.
    """
    commit = hashlib.sha1(f"writer-bench:{model_dir.name}".encode()).hexdigest()
    repo = Path(hf_home) / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for src in sorted(model_dir.iterdir()):
        if not src.is_file() or src.name == DONE_MARK:
            continue
        dst = snapshot / src.name
        if dst.exists():
            dst.unlink()
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    return snapshot
