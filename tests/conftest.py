"""Shared fixtures: an isolated user environment and a tiny GPT-2 trained tokenizer + model.

Nothing here touches the network or the user's real data: HF_HUB_OFFLINE=1 and every XDG dir and
the Hugging Face cache point into pytest's tmp dirs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CORPUS = (
    "Once upon a time there was a small fox who lived at the edge of a dark forest. "
    "Every morning the fox walked to the river and looked at the water. "
    "The old woman in the village told stories about the forest, and the children listened. "
    "One night the wind carried a strange song through the trees, and the fox followed it. "
    "She opened the door and saw the lighthouse keeper standing in the rain. "
    '"Where are you going?" he asked. "To the sea," she said, and she smiled.\n\n'
    "The ship sailed north for three days. On the fourth day the captain saw land. "
    "It was cold and quiet, and nobody spoke. The detective lit a cigarette and waited.\n\n"
)


def _isolated_env(root: Path) -> dict[str, str]:
    env = {
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "HF_HOME": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    for value in env.values():
        if value.startswith(str(root)):
            Path(value).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every test gets its own data/config/cache dirs and HF cache; returns them as env vars."""
    env = _isolated_env(tmp_path / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def build_tiny_model(folder: Path) -> Path:
    """A byte-level BPE tokenizer trained on CORPUS and a tiny random GPT-2, saved to `folder`."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [CORPUS] * 20, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"]
    )
    bpe.save(str(folder / "tokenizer.json"))
    tokenizer = GPT2TokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a saved tiny GPT-2 (vocab ~400, 2 layers, context 128)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path):
    """One loaded Engine on the tiny model, shared by the engine tests."""
    from writer.engine import load_engine

    return load_engine(str(tiny_model_dir), device="cpu")


def run_writer(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the `writer` CLI in a subprocess with the test's isolated environment."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "writer", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
    )
