"""Bad input from a hostile user: every case is one `writer: error:` line."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, call_writer, run_writer

MAX_SEED = 2**63 - 1


def one_line(proc: subprocess.CompletedProcess, code: int) -> str:
    """The single stderr line of a failed run (no blank line, no progress line, no traceback)."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("writer: error: "), repr(proc.stderr)
    assert proc.returncode == code, proc.stderr
    assert "unexpected" not in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seed", "99999999999999999999"], "--seed: must be a whole number from 0 to"),
        (["--seed", str(MAX_SEED + 1)], "--seed: must be a whole number from 0 to"),
        (["--seed", "-1"], "--seed: must be a whole number from 0 to"),
        (["--model", ""], "--model is empty"),
        (["--model", "   "], "--model is empty"),
        (["-n", "17"], "-n must be 1 to 16"),
        (["--temperature", "nan"], "temperature must be"),
    ],
)
def test_usage_errors_exit_2(args, words, tiny_model_dir, isolated_user_dirs):
    proc = run_writer(
        "generate", "Hi", "--model", str(tiny_model_dir), *args, env=isolated_user_dirs
    )
    assert words in one_line(proc, 2)


def test_bad_seeds_and_text_in_jsonl(tmp_path, tiny_model_dir, isolated_user_dirs):
    env = isolated_user_dirs
    cases = {
        '{"prompt": "a", "seed": 99999999999999999999}': "line 1: seed must be a whole number",
        '{"prompt": "a", "seed": -1}': "line 1: seed must be a whole number",
        '"\\ud800"': "line 1: the prompt is not valid UTF-8 text",
        '{"prompt": "ok \\udc80 then"}': "line 1: the prompt is not valid UTF-8 text",
    }
    for line, words in cases.items():
        batch = tmp_path / "batch.jsonl"
        batch.write_text(line + "\n", encoding="utf-8")
        proc = run_writer(
            "generate", "--prompts", str(batch), "--model", str(tiny_model_dir), env=env
        )
        assert words in one_line(proc, 1), line


def test_prompt_that_is_not_utf8(tiny_model_dir, isolated_user_dirs):
    env = {**os.environ, **isolated_user_dirs}
    command = [sys.executable, "-m", "writer", "generate", "--model", str(tiny_model_dir)]
    stdin = subprocess.run(
        [*command, "-"], input=b"\xff\xfe broken", capture_output=True, env=env, timeout=120
    )
    proc = subprocess.CompletedProcess(
        stdin.args, stdin.returncode, stdin.stdout.decode(), stdin.stderr.decode()
    )
    assert "standard input is not UTF-8 text" in one_line(proc, 1)
    # An argv byte that is not UTF-8 arrives as a lone surrogate (surrogateescape).
    argv = run_writer(
        "generate", "caf\udce9", "--model", str(tiny_model_dir), env=isolated_user_dirs
    )
    assert "the prompt is not valid UTF-8 text" in one_line(argv, 1)


def test_output_to_a_full_disk_is_one_line(tmp_path, tiny_model_dir, isolated_user_dirs):
    env = isolated_user_dirs
    model = ["--model", str(tiny_model_dir), "--max-new-tokens", "3"]
    # -o takes regular files only (writer.commands.output), so a device is refused up front;
    # a full stdout needs a process of its own.
    to_file = call_writer("generate", "Hi", *model, "-o", "/dev/full", env=env)
    assert "cannot write to /dev/full: it is not a regular file" in one_line(to_file, 1)
    batch = tmp_path / "batch.jsonl"
    batch.write_text('"one"\n"two"\n', encoding="utf-8")
    prompts = call_writer("generate", "--prompts", str(batch), *model, "-o", "/dev/full", env=env)
    assert "not a regular file" in one_line(prompts, 1)  # no progress line before it
    for args in (["generate", "Hi", *model], ["generate", "Hi", *model, "--json"], ["presets"]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [sys.executable, "-m", "writer", *args],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **env},
                timeout=120,
            )
        assert "No space left on device" in one_line(proc, 1), args


def test_output_to_a_pipe_nobody_reads_does_not_hang(fifo, tiny_model_dir, isolated_user_dirs):
    proc = run_writer(
        "generate", "Hi", "--model", str(tiny_model_dir), "-o", str(fifo), env=isolated_user_dirs
    )
    assert "it is not a regular file (a device or pipe)" in one_line(proc, 1)


def test_devices_fifos_and_huge_files_are_refused_everywhere(
    tmp_path, fifo, tiny_model_dir, isolated_user_dirs
):
    """Only regular files, within 50 MB, and never a hang."""
    env = isolated_user_dirs
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:  # sparse: no disk space used
        fh.truncate(50 * 1024 * 1024 + 1)
    model = ["--model", str(tiny_model_dir)]
    for path, words in (
        ("/dev/zero", "it is a device, not a regular file"),
        (str(fifo), "it is a pipe (FIFO), not a regular file"),
        (str(huge), "over the 50 MB limit"),
    ):
        commands = (
            [path],  # the app: refused before it starts
            ["drafts", "import", path],
            ["generate", "--prompt-file", path, *model],
            ["generate", "--prompts", path, *model],
            ["eval", path, *model],
            ["finetune", path, "--name", "x", "--base", str(tiny_model_dir)],
        )
        for args in commands:
            proc = run_writer(*args, env=env, timeout=60)
            assert words in one_line(proc, 1), (args, proc.stderr)
    assert not (Path(env["XDG_DATA_HOME"]) / "writer" / "models" / "x").exists()


def test_devices_and_model_names(isolated_user_dirs, tiny_model_dir):
    env = isolated_user_dirs
    # generate's checks in this process (call_writer); the app's in a process of its own.
    mps = call_writer("generate", "Hi", "--model", str(tiny_model_dir), "--device", "mps", env=env)
    assert "MPS is not available" in one_line(mps, 1)
    owned = call_writer("generate", "Hi", "--model", "openai-community/gpt2", env=env)
    line = one_line(owned, 1)
    assert "'openai-community/gpt2' is not a local folder and not in the local Hugging Face" in line
    assert "writer download openai-community/gpt2" in line
    not_folder = call_writer("generate", "Hi", "--model", "/dev/null", env=env)
    assert "/dev/null is not a folder" in one_line(not_folder, 1)
    app = run_writer("--model", "", env=env)
    assert "--model is empty" in one_line(app, 2)


def test_eval_of_empty_text_says_evaluate(tmp_path, isolated_user_dirs):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    proc = run_writer("eval", str(empty), env=isolated_user_dirs)
    assert one_line(proc, 1).endswith("add some writing to evaluate")


def test_prompt_file_leaves_out_idea_notes(tmp_path, tiny_model_dir, isolated_user_dirs):
    story = tmp_path / "story.md"
    story.write_text(
        "The fox ran.\n[Idea: The fox is a prince.]\nThe river was cold.\n", encoding="utf-8"
    )
    proc = run_writer(
        "generate",
        "--prompt-file",
        str(story),
        "--model",
        str(tiny_model_dir),
        "--json",
        "-n",
        "1",
        "--max-new-tokens",
        "2",
        env=isolated_user_dirs,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["prompt"] == "The fox ran.\nThe river was cold.\n"


def test_one_candidate_on_a_terminal_prints_its_seed(tiny_model_dir, isolated_user_dirs):
    """Streamed live (-n 1 on a terminal), the run still says how to reproduce it."""
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "writer", "generate", "Once upon a time", "-n", "1"]
            + ["--model", str(tiny_model_dir), "--max-new-tokens", "4"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **isolated_user_dirs},
            timeout=120,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 0, proc.stderr
    assert "reproduce with --seed " in proc.stderr


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")  # training, here
def test_lora_model_prints_no_library_warnings(tmp_path, tiny_model_dir, isolated_user_dirs):
    from writer.training.finetune import FinetuneOptions, finetune

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 3, encoding="utf-8")
    options = FinetuneOptions(
        name="lora-style", base=str(tiny_model_dir), method="lora", steps=2, block_size=32
    )
    finetune([str(corpus)], options)
    proc = run_writer(
        "generate",
        "Hi",
        "--model",
        "lora-style",
        "-n",
        "1",
        "--max-new-tokens",
        "2",
        env=isolated_user_dirs,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and proc.stderr.startswith("writer: lora-style")


def test_malformed_device_is_a_usage_error(isolated_user_dirs):
    for args in (
        ["generate", "Hi", "--device", "gpu"],
        ["--device", "cuda:x"],
        ["eval", "x", "--device", ""],
    ):
        assert "--device: use cpu, cuda, cuda:N" in one_line(
            run_writer(*args, env=isolated_user_dirs), 2
        )


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 8, encoding="utf-8")
    return corpus


def test_a_diverging_finetune_stops_and_saves_nothing(tmp_path, tiny_model_dir, isolated_user_dirs):
    env = isolated_user_dirs
    args = ["finetune", str(_corpus(tmp_path)), "--name", "hot", "--base", str(tiny_model_dir)]
    proc = call_writer(*args, "--lr", "1e9", "--steps", "30", "--no-continuations", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr  # progress lines come first
    line = proc.stderr.splitlines()[-1]
    assert line.startswith("writer: error: training diverged at step") and "lower --lr" in line
    assert not (Path(env["XDG_DATA_HOME"]) / "writer" / "models" / "hot").exists()


def test_models_with_weights_that_are_not_numbers_are_refused(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = load_file(broken / "model.safetensors")
    first = sorted(k for k, v in weights.items() if v.is_floating_point())[0]
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    env = isolated_user_dirs
    for args in (["generate", "Hi", "--model", str(broken)], ["eval", str(_corpus(tmp_path))]):
        if args[0] == "eval":
            args = [*args, "--model", str(broken)]
        assert "not numbers" in one_line(call_writer(*args, env=env), 1), args
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_model_dir, truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    line = one_line(call_writer("generate", "Hi", "--model", str(truncated), env=env), 1)
    assert "model.safetensors" in line and "are damaged" in line and "copy the model again" in line


# Hostile arguments and files: (args, exit code, words of the one `writer: error:` line). In
# the args, TINY is the tiny model, CORPUS a text file, LOOP a symlink to itself, DEEP a
# --prompts file nested 100,000 deep, BYTE an argument byte that is not UTF-8.
HOSTILE = [
    (["generate", "Hi", "--model", "TINY", "-o", "LOOP"], 1, "Too many levels of symbolic"),
    (["eval", "LOOP", "--model", "TINY"], 1, "LOOP is a symbolic link loop"),
    (["finetune", "LOOP", "--name", "x", "--base", "TINY"], 1, "is a symbolic link loop"),
    (["compare", "LOOP", "--a", "greedy", "--b", "wild"], 1, "is a symbolic link loop"),
    (["generate", "--prompts", "DEEP", "--model", "TINY"], 1, "nests lists or objects too deep"),
    (["generate", "Hi", "--ban", "BYTE", "--model", "TINY"], 1, "not valid UTF-8 text"),
    (["compare", "CORPUS", "--a", "greedy", "--b", "wild", "--seed", str(2**70)], 2, "--seed"),
    (["compare", "CORPUS", "--a", "greedy", "--b", "wild", "--seed", "-1"], 2, "--seed: must"),
    (["compare", "CORPUS", "--a", "greedy", "--b", "wild", "--items", "0"], 2, "--items: must"),
    (["compare", "CORPUS", "--a", "greedy", "--b", "wild", "--length", "0"], 2, "--length:"),
    (["eval", "CORPUS", "--continuations", "--samples", "0"], 2, "--samples: must be"),
    (["eval", "CORPUS", "--continuations", "--window", "0"], 2, "--window: must be"),
    (["eval", "CORPUS", "--continuations", "--length", "-5"], 2, "--length: must be"),
    (["eval", "CORPUS", "--continuations", "-n", "99"], 2, "-n: must be a whole number"),
    (["eval", "CORPUS", "--continuations", "--seed", "-1"], 2, "--seed: must be"),
    (["eval", "CORPUS", "--model", "TINY", "--continuations", "--window", "500"], 2, "context"),
    (["finetune", "CORPUS", "--name", "x", "--block-size", "100000"], 2, "--block-size: must"),
    (["finetune", "CORPUS", "--name", "x", "--base", "TINY", "--block-size", "500"], 2, "context"),
]


@pytest.mark.parametrize("args, code, words", HOSTILE)
def test_hostile_arguments(args, code, words, tmp_path, tiny_model_dir, isolated_user_dirs):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    names = {
        "TINY": str(tiny_model_dir),
        "CORPUS": str(_corpus(tmp_path)),
        "LOOP": str(loop),
        "DEEP": str(deep),
        "BYTE": "\udcff",  # how Python passes the argv byte 0xff
    }
    args = [names.get(a, a) for a in args]
    words = words.replace("LOOP", str(loop))
    proc = call_writer(*args, env=isolated_user_dirs)
    proc.stderr = proc.stderr.strip()  # eval's progress display leaves a blank line
    assert words in one_line(proc, code), args
    assert "Traceback" not in proc.stderr


def test_hostile_settings_files(tmp_path, tiny_model_dir, isolated_user_dirs):
    env = isolated_user_dirs
    config = Path(env["XDG_CONFIG_HOME"]) / "writer"
    config.mkdir(parents=True, exist_ok=True)
    model = ["--model", str(tiny_model_dir), "-n", "1", "--max-new-tokens", "2"]
    (config / "presets.toml").write_text('[a]\nbase = "b"\n[b]\nbase = "a"\n', "utf-8")
    assert "preset cycle a -> b -> a" in one_line(call_writer("presets", env=env), 1)
    (config / "presets.toml").write_text('[b]\nbase = "a"\n[a]\ntemperature = 0.5\n', "utf-8")
    assert call_writer("presets", env=env).returncode == 0  # a base defined further down
    (config / "presets.toml").unlink()
    toml = config / "config.toml"
    toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    assert "nests arrays or tables too deeply" in one_line(
        call_writer("generate", "Hi", *model, env=env), 1
    )
    toml.unlink()
    toml.symlink_to(toml)
    assert "symbolic link loop" in one_line(call_writer("generate", "Hi", *model, env=env), 1)
    toml.unlink()
    toml.write_text('device = "cuda"\n', encoding="utf-8")  # honoured as the app honours it
    line = one_line(call_writer("generate", "Hi", *model, env=env), 1)
    assert "CUDA" in line or "cuda" in line


def test_hostile_app_paths(tmp_path, isolated_user_dirs):
    """The app's file argument, checked before the app starts (a process of its own)."""
    env = isolated_user_dirs
    loop = tmp_path / "loop.md"
    loop.symlink_to(loop)
    assert "is a symbolic link loop" in one_line(run_writer(str(loop), env=env, timeout=60), 1)
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to(tmp_path / "nowhere" / "story.md")
    line = one_line(run_writer(str(dangling), env=env, timeout=60), 1)
    assert "which does not exist" in line
    assert not (tmp_path / "nowhere").exists()
    config = Path(env["XDG_CONFIG_HOME"]) / "writer"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", "utf-8")
    line = one_line(run_writer(str(tmp_path / "s.md"), env=env, timeout=60), 1)
    assert "nests arrays or tables too deeply" in line


def _writer(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "writer", *args],
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
        **kwargs,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def test_hostile_standard_input(tmp_path, tiny_model_dir, isolated_user_dirs):
    env = isolated_user_dirs
    model = ["--model", str(tiny_model_dir)]
    closed = _writer(["generate", "-", *model], env, stdin=None, preexec_fn=lambda: os.close(0))
    assert "standard input is closed" in one_line(closed, 1)
    chat = ["chat", "--character", "Ann", *model, "--max-new-tokens", "2"]
    with open("/dev/zero", "rb") as zero:
        endless = _writer(chat, env, stdin=zero)
    assert "standard input is a device" in one_line(endless, 1)
    long_line = _writer(chat, env, input=b"a" * 70_000 + b"\n")
    assert "over 65,536 characters" in long_line.stderr.splitlines()[-1]
    assert long_line.returncode == 1
    empty = _writer(chat, env, stdin=subprocess.DEVNULL)
    assert empty.returncode == 0, empty.stderr


def test_compare_without_a_terminal_exits_at_once(tmp_path, tiny_model_dir, isolated_user_dirs):
    args = ["compare", str(_corpus(tmp_path)), "--a", "greedy", "--b", "wild"]
    args += ["--model", str(tiny_model_dir), "--items", "2", "--length", "4"]
    proc = _writer(args, isolated_user_dirs, stdin=subprocess.DEVNULL)
    assert "judging screen at a terminal" in proc.stderr.splitlines()[-1], proc.stderr
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
