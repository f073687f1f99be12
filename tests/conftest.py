"""Shared fixtures: an isolated user environment and a tiny GPT-2 trained tokenizer + model.

Nothing here touches the network or the user's real data: HF_HUB_OFFLINE=1 and every XDG dir and
the Hugging Face cache point into temp dirs. Twice over: once here, at import, before any test
module imports huggingface_hub (which fixes its cache path when imported, so a per-test HF_HOME
alone had no effect and a real cache holding gpt2 broke tests), and again per test (below).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Every variable through which a library could find the user's caches, config or data.
_LOCATION_VARS = (
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HF_XET_CACHE",
    "HF_TOKEN_PATH",
    "TRANSFORMERS_CACHE",
    "HF_DATASETS_CACHE",
    "TORCH_HOME",
)
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="writer-tests-"))
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
for _name in _LOCATION_VARS:
    os.environ.pop(_name, None)
for _name, _sub in (
    ("XDG_DATA_HOME", "data"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_STATE_HOME", "state"),
    ("HF_HOME", "hf"),
    ("TORCH_HOME", "torch"),
):
    os.environ[_name] = str(_SESSION_HOME / _sub)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# torch's OpenMP threads spin while they wait for work; with two pytest workers (and their
# `writer` subprocesses) on 2 cores the spinning threads took the CPU from the working ones:
# two test processes at once trained test_sampling's model in 15 s each, 7 s with this. Only the
# waiting changes, never a number. Read when torch loads, so before anything imports it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "huggingface_hub" in sys.modules:  # a plugin imported it first: its paths are the user's
    raise RuntimeError("huggingface_hub was imported before tests/conftest.py isolated its cache")

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
    for key in _LOCATION_VARS:
        if key not in env:
            monkeypatch.delenv(key, raising=False)
    # huggingface_hub read HF_HOME once, at import (the session dir above); point what it fixed
    # then at this test's cache too, for any library code that does not take writer's path.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        hub = str(Path(env["HF_HOME"]) / "hub")
        monkeypatch.setattr(constants, "HF_HOME", env["HF_HOME"])
        monkeypatch.setattr(constants, "HF_HUB_CACHE", hub)
        monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", hub)
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
    """One loaded Engine on the tiny model, shared by the engine tests: fp32, the exact
    precision that greedy decoding is checked in (CPU's auto is int8)."""
    from writer.engine import load_engine

    return load_engine(str(tiny_model_dir), device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def auto_engine(tiny_model_dir: Path):
    """The tiny model on the default device at the default precision, as `writer serve` and
    `writer generate` load it (int8 on x86 CPUs, bf16 on a GPU): what their runs are compared
    with."""
    from writer.engine import load_engine

    return load_engine(str(tiny_model_dir))


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


def call_writer(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`writer.cli.main(args)` in this process, returned as `run_writer` returns a subprocess.

    For checks where a new interpreter adds nothing (argument checks, messages, outputs): it saves
    the seconds each `writer` subprocess spends importing torch and transformers. Exit codes and
    one-line errors of every command are still checked end to end through `run_writer`; what a
    library prints on its own (a warning at import) shows only there. `env` is set for the call.
    """
    import contextlib
    import io

    from writer.cli import main

    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = stdin
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess(["writer", *args], code, out.getvalue(), err.getvalue())
