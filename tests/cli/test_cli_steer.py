"""`writer generate`'s steering flags and story context, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import call_writer, run_writer

LORE = """
[[entry]]
keys = ["fox"]
text = "The fox is named Vesper."

[[entry]]
keys = ["light ?house"]
regex = true
priority = 5
text = "The lighthouse is dark."

[[entry]]
keys = ["dragon"]
text = "There are no dragons."

[[entry]]
always = true
text = "Winter."
"""


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("writer: error: "), result.stderr
    return lines[0]


def test_steering_flags_reach_params_and_bans_hold(tiny_model_dir, isolated_user_dirs):
    r = run_writer(
        "generate", "Once upon a time", "--model", str(tiny_model_dir), "-n", "4",
        "--seed", "3", "--max-new-tokens", "12", "--json", "--temperature", "1.5",
        "--min-p", "0.05", "--typical-p", "0.9", "--dry-multiplier", "0.8", "--dry-base", "2",
        "--dry-allowed-length", "3", "--repetition-range", "64",
        "--ban", "e", "--ban", "the sea", "--bias", "fox=2", "--bias", "a b=c=-1.5",
        env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    params = result["params"]
    assert params["min_p"] == 0.05 and params["typical_p"] == 0.9
    assert params["dry_multiplier"] == 0.8 and params["dry_base"] == 2.0
    assert params["dry_allowed_length"] == 3 and params["repetition_range"] == 64
    assert params["ban"] == ["e", "the sea"]
    assert params["bias"] == {"fox": 2.0, "a b=c": -1.5}  # the last '=' splits the weight
    assert "context" not in result  # no context flags: the prompt is the story alone
    for cand in result["candidates"]:
        assert "e" not in cand["text"].lower() and cand["tokens"] == 12


def test_presets_toml_takes_the_same_names(tiny_model_dir, isolated_user_dirs):
    config = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer"
    config.mkdir(parents=True, exist_ok=True)
    (config / "presets.toml").write_text(
        '[steady]\nbase = "natural"\nmin_p = 0.2\ndry_allowed_length = 3\n'
        'repetition_range = 128\nban = ["suddenly"]\nbias = { "the fox" = 1.5 }\n'
        'dry_sequence_breakers = ["\\n", "."]\n',
        encoding="utf-8",
    )
    r = run_writer("presets", env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    steady = next(line for line in r.stdout.splitlines() if line.startswith("steady"))
    assert "min_p=0.2" in steady and "dry_multiplier=0.8" in steady and "'suddenly'" in steady
    natural = next(line for line in r.stdout.splitlines() if line.startswith("natural"))
    assert "min_p=0.1" in natural and "top_k=0" in natural
    r = run_writer(
        "generate", "x", "--model", str(tiny_model_dir), "--preset", "steady", "--json",
        "--max-new-tokens", "4", "--ban", "zebra", "--bias", "the fox=-2",
        env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    params = json.loads(r.stdout)["params"]
    assert params["ban"] == ["suddenly", "zebra"]  # flags add to the preset's phrases
    assert params["bias"] == {"the fox": -2.0}  # a flag's weight wins for the same phrase
    assert params["dry_sequence_breakers"] == ["\n", "."] and params["repetition_range"] == 128


def test_context_flags_give_a_context_breakdown(tmp_path, tiny_model_dir, isolated_user_dirs):
    memory = tmp_path / "memory.txt"
    memory.write_text("A winter fable.\n", encoding="utf-8")
    lore = tmp_path / "lore.toml"
    lore.write_text(LORE, encoding="utf-8")
    story = "The fox walked to the river.\nShe saw the light house.\nIt was cold."
    base = ["generate", story, "--model", str(tiny_model_dir), "--max-new-tokens", "5",
            "--memory", str(memory), "--note", "Calm.", "--lorebook", str(lore)]  # fmt: skip
    r = run_writer(*base, "--json", "-n", "1", env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    context = json.loads(r.stdout)["context"]
    assert {"memory", "note", "lorebook", "story"} <= set(context)
    assert all(isinstance(context[k], int) and context[k] > 0 for k in ("memory", "note", "story"))
    assert (
        context["memory"] + context["note"] + context["lorebook"] + context["story"]
        == (context["total"])
    )
    assert context["total"] + 5 <= context["window"]
    used = {e["index"] for e in context["entries"]} | {e["index"] for e in context["left_out"]}
    assert used == {1, 2, 4}  # the dragon entry's key is not in the story
    # A batch gets the same context for every prompt.
    batch = tmp_path / "batch.jsonl"
    batch.write_text('"The fox."\n{"prompt": "A dragon.", "n": 1}\n', encoding="utf-8")
    r = call_writer(base[0], "--prompts", str(batch), *base[2:], env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    # Lines come as each prompt finishes; each carries its prompt's index.
    lines = sorted((json.loads(line) for line in r.stdout.splitlines()), key=lambda x: x["index"])
    assert [sorted(e["index"] for e in x["context"]["entries"]) for x in lines] == [
        [1, 4],
        [3, 4],
    ]
    # Without --json the breakdown is one line on stderr after the usual summary.
    r = call_writer(*base, "-n", "1", env=isolated_user_dirs)  # in this process, as above
    assert r.returncode == 0, r.stderr
    assert "writer: context " in r.stderr and "memory " in r.stderr and "note " in r.stderr


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--min-p", "2"], 2, "min_p must be 0 (off) to 1"),
        (["--min-p", "lots"], 2, "invalid float"),
        (["--typical-p", "0"], 2, "typical_p must be above 0 up to 1"),
        (["--dry-multiplier", "-1"], 2, "dry_multiplier must be 0 (off) to 5"),
        (["--dry-base", "0.5"], 2, "dry_base must be 1 to 4"),
        (["--dry-allowed-length", "0"], 2, "dry_allowed_length must be 1 to 20"),
        (["--dry-allowed-length", "2.5"], 2, "invalid int"),
        (["--repetition-range", "-5"], 2, "repetition_range must be 0"),
        (["--ban", " "], 2, "ban must be non-empty"),
        (["--ban", "x" * 101], 2, "over 100 characters"),
        (["--bias", "fox"], 2, 'like "PHRASE=WEIGHT"'),
        (["--bias", "fox=lots"], 2, "bias weight for 'fox' must be a number"),
        (["--bias", "fox=99"], 2, "must be -20 to 20"),
        (["--bias", "=2"], 2, "bias must be non-empty"),
        (["--memory", "/no/such/memory.txt"], 1, "no such file"),
        (["--lorebook", "/no/such/lore.toml"], 1, "no such file"),
    ],
)
def test_bad_steering_values_get_one_line_errors(args, code, words, isolated_user_dirs):
    r = run_writer("generate", "x", *args, env=isolated_user_dirs)
    assert r.returncode == code, r.stderr
    assert words in one_error_line(r)


def test_bad_lorebooks_and_presets_get_one_line_errors(tmp_path, isolated_user_dirs):
    lore = tmp_path / "lore.toml"
    for content, words in [
        ("[[entry]\n", "is not valid TOML"),
        ('[[entry]]\nkeys = ["a"]\n', "entry 1: lorebook entry needs a non-empty text"),
        ('[[entry]]\nkeys = ["("]\nregex = true\ntext = "t"\n', "not a valid regex"),
        ('[[entry]]\nkeys = ["(a)\\\\1"]\nregex = true\ntext = "t"\n', "without backreferences"),
        ('[[entry]]\nkeys = ["a"]\ntext = "t"\nwhen = 1\n', "unknown key 'when'"),
    ]:
        lore.write_text(content, encoding="utf-8")
        r = run_writer("generate", "x", "--lorebook", str(lore), env=isolated_user_dirs)
        assert r.returncode == 1 and words in one_error_line(r), r.stderr
    config = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer"
    config.mkdir(parents=True, exist_ok=True)
    for content, words in [
        ("[p]\nmin_p = 1.5\n", "[p]: min_p must be 0 (off) to 1"),
        ('[p]\nbias = { fox = "x" }\n', "bias weight for 'fox' must be a number"),
        ("[p]\nban = 3\n", "ban must be a list of phrases"),
        ("[p]\ndry_sequence_breakers = [1]\n", "dry_sequence_breakers must be non-empty"),
        ("[p]\ndry_range = -1\n", "dry_range must be 0 (the whole context) to 4096"),
    ]:
        (config / "presets.toml").write_text(content, encoding="utf-8")
        r = run_writer("presets", env=isolated_user_dirs)
        assert r.returncode == 1 and words in one_error_line(r), r.stderr


def test_a_catastrophic_regex_key_matches_in_linear_time(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    """`(a+)+$` against 34 a's and a '!' takes minutes with a backtracking matcher; RE2 is
    linear, so the run finishes (the bound is the subprocess timeout)."""
    lore = tmp_path / "lore.toml"
    lore.write_text('[[entry]]\nkeys = ["(a+)+$"]\nregex = true\ntext = "Aa."\n', "utf-8")
    r = run_writer(
        "generate", "a" * 34 + "!", "--lorebook", str(lore), "--model", str(tiny_model_dir),
        "-n", "1", "--max-new-tokens", "2", "--json", env=isolated_user_dirs, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["context"]["entries"] == []  # no match: the text ends in '!'
