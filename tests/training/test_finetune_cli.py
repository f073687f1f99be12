"""`writer finetune`, `writer eval` and `writer generate --model NAME` as a new user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, call_writer, run_writer

FAST = ["--block-size", "32", "--batch-size", "4", "--micro-batch-size", "2"]


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "one.txt").write_text(CORPUS * 3, encoding="utf-8")
    (folder / "two.md").write_text(CORPUS * 2, encoding="utf-8")
    return folder


def _perplexity(stdout: str) -> float:
    match = re.search(r"^perplexity: ([0-9.]+)$", stdout, re.M)
    assert match, stdout
    return float(match.group(1))


def _one_error_line(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()  # not stripped: a blank line before the error counts
    assert len(lines) == 1 and lines[0].startswith("writer: error: "), repr(proc.stderr)
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_eval_finetune_interrupt_resume_eval_generate(
    corpus_dir: Path, tiny_model_dir: Path, isolated_user_dirs: dict[str, str]
) -> None:
    """The judged flow, with a stop and --resume in the middle (method full on the tiny model).

    The resume and the eval after it run in new processes, as a user runs them; the steps around
    them run in this one (call_writer), which spares a torch import each."""
    import torch
    from safetensors.torch import load_file

    from writer.training.finetune import FinetuneOptions, finetune

    env = isolated_user_dirs
    before = call_writer("eval", str(corpus_dir), "--model", str(tiny_model_dir), env=env)
    assert before.returncode == 0, before.stderr
    assert re.search(r"^tokens: \d+", before.stdout, re.M)

    args = ["finetune", str(corpus_dir), "--base", str(tiny_model_dir), "--name", "mine"]
    args += ["--steps", "30", "--lr", "3e-3", *FAST]
    stopped = call_writer(*args, "--stop-after-steps", "10", env=env)
    assert stopped.returncode == 130, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert "step 10/30" in last and "--name mine --resume" in last
    done = run_writer(*args, "--resume", env=env)
    assert done.returncode == 0, done.stderr
    assert "held-out perplexity before:" in done.stdout and "after:" in done.stdout

    after = run_writer("eval", str(corpus_dir), "--model", "mine", env=env)
    assert after.returncode == 0, after.stderr
    assert _perplexity(after.stdout) < _perplexity(before.stdout) / 2

    listed = call_writer("models", env=env)
    assert re.search(r"^mine\s+finetuned\s+full on .*30 steps", listed.stdout, re.M), listed.stdout

    # The CLI's interrupted + resumed run equals an uninterrupted run in this process.
    straight = finetune(
        [corpus_dir],
        FinetuneOptions(
            name="straight", base=str(tiny_model_dir), steps=30, lr=3e-3,
            block_size=32, batch_size=4, micro_batch_size=2,
        ),
    )  # fmt: skip
    a = load_file(straight.folder / "model.safetensors")
    b = load_file(Path(straight.folder.parent / "mine" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()

    gen = call_writer(
        "generate", "Once upon a time", "--model", "mine", "-n", "1",
        "--max-new-tokens", "8", "--seed", "1", env=env,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.strip()


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(
    corpus_dir: Path, tiny_model_dir: Path, isolated_user_dirs: dict[str, str]
) -> None:
    env = {**os.environ, **isolated_user_dirs}
    proc = subprocess.Popen(
        [sys.executable, "-m", "writer", "finetune", str(corpus_dir), "--name", "sig"]
        + ["--base", str(tiny_model_dir), "--steps", "100000", *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 90
    while "training full" not in seen and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert "training full" in seen, seen
    time.sleep(0.5)  # let a few steps run
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + rest
    assert "checkpoint saved" in rest and "--name sig --resume" in rest
    checkpoint = Path(isolated_user_dirs["XDG_DATA_HOME"]) / "writer" / "checkpoints" / "sig"
    assert (checkpoint / "checkpoint.pt").is_file()
    assert not (Path(isolated_user_dirs["XDG_DATA_HOME"]) / "writer" / "models" / "sig").exists()


def test_bad_input_gets_one_error_line(
    tmp_path: Path, corpus_dir: Path, tiny_model_dir: Path, isolated_user_dirs: dict[str, str]
) -> None:
    env = isolated_user_dirs
    base = ["--base", str(tiny_model_dir)]

    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "data.csv").write_text("a,b\n", encoding="utf-8")
    line = _one_error_line(run_writer("finetune", str(empty), "--name", "x", *base, env=env))
    assert "no text files found" in line

    for bad in ("../escape", "a/b", ".hidden", "has space"):
        proc = call_writer("finetune", str(corpus_dir), "--name", bad, env=env)
        assert "invalid model name" in _one_error_line(proc, 2), bad

    # A fine-tune named like a hub model would hide it everywhere.
    for shadow in ("gpt2", "GPT2", "distilgpt2"):
        proc = call_writer("finetune", str(corpus_dir), "--name", shadow, *base, env=env)
        assert "is taken by the hub model" in _one_error_line(proc, 2), shadow

    existing = Path(env["XDG_DATA_HOME"]) / "writer" / "models" / "taken"
    existing.mkdir(parents=True)
    (existing / "manifest.json").write_text("{}", encoding="utf-8")
    line = _one_error_line(run_writer("finetune", str(corpus_dir), "--name", "taken", env=env))
    assert "already exists" in line and "--overwrite" in line

    # These two load torch before they fail: in this process, where it is loaded already.
    missing = call_writer("finetune", str(corpus_dir), "--name", "x", "--base", "gpt2", env=env)
    assert "not in the local Hugging Face cache" in _one_error_line(missing)

    short = tmp_path / "short.txt"
    short.write_text("Hi.", encoding="utf-8")
    line = _one_error_line(call_writer("finetune", str(short), "--name", "x", *base, env=env))
    assert "too little text" in line and "--block-size" in line

    line = _one_error_line(
        run_writer("finetune", str(corpus_dir), "--name", "x", "--resume", env=env)
    )
    assert "no interrupted fine-tune" in line

    line = _one_error_line(run_writer("eval", str(tmp_path / "nope"), env=env))
    assert "no such file or folder" in line
