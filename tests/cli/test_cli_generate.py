"""`writer generate` and friends through the real CLI, in a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_writer


def one_error_line(result) -> str:
    """The CLI's stderr must be exactly one `writer: error:` line, never a traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("writer: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_generate_json_output_and_flags_override_preset(tiny_model_dir, isolated_user_dirs):
    args = ["generate", "Once upon a time", "--model", str(tiny_model_dir), "--preset",
            "creative", "-n", "2", "--top-k", "7", "--max-new-tokens", "9", "--seed", "5",
            "--json"]  # fmt: skip
    r = run_writer(*args, env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert set(result) >= {"prompt", "mode", "model", "params", "seed", "candidates"}
    assert result["prompt"] == "Once upon a time" and result["mode"] == "continue"
    assert result["seed"] == 5
    assert result["params"]["top_k"] == 7  # the flag
    assert result["params"]["temperature"] == 1.0  # the preset's value
    assert len(result["candidates"]) == 2
    for cand in result["candidates"]:
        assert set(cand) >= {"text", "tokens", "logprob"}
        assert not cand["text"].startswith("Once upon a time")
        assert 1 <= cand["tokens"] <= 9
    # Same seed, same candidates: the printed seed reproduces them.
    again = run_writer(*args, env=isolated_user_dirs)
    assert json.loads(again.stdout)["candidates"] == result["candidates"]


def test_generate_plain_text_from_prompt_file_and_ideas(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    story = tmp_path / "story.md"
    story.write_text("The detective lit a cigarette and waited.", encoding="utf-8")
    out = tmp_path / "out.txt"
    r = run_writer(
        "generate",
        "--prompt-file",
        str(story),
        "--model",
        str(tiny_model_dir),
        "--mode",
        "ideas",
        "-n",
        "3",
        "--max-new-tokens",
        "12",
        "--output",
        str(out),
        env=isolated_user_dirs,
    )
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count("--- candidate") == 3
    assert "--seed" in r.stderr  # how to reproduce


def test_jsonl_batch_writes_each_result(tmp_path, tiny_model_dir, isolated_user_dirs):
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        '"Once upon a time"\n\n{"prompt": "The ship", "n": 1, "seed": 3, "mode": "ideas"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    r = run_writer(
        "generate",
        "--prompts",
        str(batch),
        "--model",
        str(tiny_model_dir),
        "--max-new-tokens",
        "5",
        "-o",
        str(out),
        env=isolated_user_dirs,
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    lines.sort(key=lambda x: x["index"])  # written as they finish (decoded together)
    assert [x["prompt"] for x in lines] == ["Once upon a time", "The ship"]
    assert len(lines[0]["candidates"]) == 3 and len(lines[1]["candidates"]) == 1
    assert lines[1]["seed"] == 3 and lines[1]["mode"] == "ideas"
    assert "2/2" in r.stderr  # the progress bar on stderr


def _cache_as_hub_model(model_dir: Path, hf_home: Path, repo: str = "gpt2") -> None:
    """Lay `model_dir` out as the Hugging Face cache entry of hub model `repo`."""
    commit = "0" * 40
    root = hf_home / "hub" / f"models--{repo}"
    shutil.copytree(model_dir, root / "snapshots" / commit)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)


def test_default_name_gpt2_loads_from_the_cache_offline(tiny_model_dir, isolated_user_dirs):
    _cache_as_hub_model(tiny_model_dir, Path(isolated_user_dirs["HF_HOME"]))
    r = run_writer(
        "generate", "Once", "--max-new-tokens", "4", "--json", "-n", "1", env=isolated_user_dirs
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"] == "gpt2"
    models = run_writer("models", env=isolated_user_dirs)
    if models.returncode == 0:  # `writer models` lists cached hub models
        assert "gpt2" in models.stdout


def test_uncached_model_offline_is_one_line(isolated_user_dirs):
    r = run_writer("generate", "x", "--model", "gpt2-medium", env=isolated_user_dirs)
    assert r.returncode == 1
    line = one_error_line(r)
    assert "gpt2-medium" in line and "writer download gpt2-medium" in line and "--model" in line


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--model", "no/such/folder"], 1, "does not exist"),
        (["--model", "nosuchmodel"], 1, "nosuchmodel"),
        (["--preset", "nope"], 2, "unknown preset"),
        (["--temperature", "9"], 2, "temperature must be"),
        (["--top-p", "0"], 2, "top_p must be"),
        (["--top-k", "-1"], 2, "top_k must be"),
        (["--max-new-tokens", "0"], 2, "max_new_tokens"),
        (["--repetition-penalty", "0.5"], 2, "repetition_penalty"),
        (["-n", "0"], 2, "-n must be"),
        (["--temperature", "hot"], 2, "invalid float"),
        (["--mode", "poem"], 2, "invalid choice"),
        (["--prompt-file", "/no/such/file.txt"], 1, "no such file"),
        (["--prompts", "/no/such/file.jsonl"], 1, "no such file"),
        (["--bogus"], 2, "unrecognized"),
    ],
)
def test_bad_input_gets_one_line_error(args, code, words, isolated_user_dirs):
    r = run_writer(
        "generate", "x" if "--prompt-file" not in args else "", *args, env=isolated_user_dirs
    )
    if "--prompt-file" in args:
        r = run_writer("generate", *args, env=isolated_user_dirs)
    assert r.returncode == code, r.stderr
    assert words in one_error_line(r)


def test_bad_files_get_one_line_errors(tmp_path, isolated_user_dirs):
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9".encode("latin-1"))
    r = run_writer("generate", "--prompt-file", str(binary), env=isolated_user_dirs)
    assert r.returncode == 1 and "not UTF-8" in one_error_line(r)
    r = run_writer("generate", "--prompt-file", str(tmp_path), env=isolated_user_dirs)
    assert r.returncode == 1 and "folder" in one_error_line(r)
    for content, words in [
        ('"ok"\n{not json\n', "line 2: not valid JSON"),
        ('{"text": "x"}\n', "line 1"),
        ('{"prompt": "x", "n": 99}\n', "n must be"),
        ('{"prompt": "x", "mode": "poem"}\n', "mode must be"),
        ("\n\n", "no prompts"),
    ]:
        batch = tmp_path / "b.jsonl"
        batch.write_text(content, encoding="utf-8")
        r = run_writer("generate", "--prompts", str(batch), env=isolated_user_dirs)
        assert r.returncode == 1, r.stderr
        assert words in one_error_line(r)
    r = run_writer("generate", "x", "--prompt-file", str(binary), env=isolated_user_dirs)
    assert r.returncode == 2 and "not both" in one_error_line(r)


def test_presets_lists_every_preset_one_per_line(isolated_user_dirs):
    config = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer"
    config.mkdir(parents=True, exist_ok=True)
    (config / "presets.toml").write_text('[noir]\nbase = "precise"\ntemperature = 0.5\n')
    r = run_writer("presets", env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names[:5] == ["precise", "balanced", "creative", "wild", "greedy"]
    assert "noir" in names
    noir = lines[names.index("noir")]
    assert "temperature=0.5" in noir and "top_p=0.6" in noir  # inherits its base
    (config / "presets.toml").write_text("[noir]\ntemperature = 99\n")
    r = run_writer("presets", env=isolated_user_dirs)
    assert r.returncode == 1 and "temperature must be" in one_error_line(r)


def test_unknown_command_like_file_and_help(isolated_user_dirs):
    r = run_writer("generate", "--help", env=isolated_user_dirs)
    assert r.returncode == 0 and "--max-new-tokens" in r.stdout


def test_download_offline_is_one_line(isolated_user_dirs):
    r = run_writer("download", "gpt2", env=isolated_user_dirs)  # HF_HUB_OFFLINE=1 in tests
    assert r.returncode == 1
    assert "gpt2" in one_error_line(r)
