"""`writer learn` end to end on the tiny model: pairs from the log or a file, the report, the
saved model, resuming, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import call_writer, run_writer
from writer.paths import models_dir
from writer.store import DraftStore
from writer.training import checkpoint

FAST = ["--steps", "2", "--batch-size", "2"]
REPORT_KEYS = {"accuracy", "reward_margin", "kl_to_base", "perplexity", "pairs"}
OWN_TEXT_KEYS = {"own_text_perplexity", "own_text", "own_text_tokens"}


def _pairs_file(path: Path, count: int = 6) -> Path:
    rows = [
        {"prompt": "The fox", "chosen": " walked to the river.", "rejected": " saw the ship."},
        {"prompt": "She opened", "chosen": " the door and smiled.", "rejected": " a cold sea."},
    ]
    path.write_text("".join(json.dumps(rows[i % 2]) + "\n" for i in range(count)))
    return path


def _logged_draft() -> int:
    """A draft whose log holds 4 insertions of 3 candidates each (8 pairs)."""
    with DraftStore.open() as store:
        draft = store.create_draft("The fox")
        text = "The fox"
        for i in range(4):
            cands = [
                {"text": f" walked to the river bank number {i}."},
                {"text": " saw the ship."},
                {"text": " and the old woman told stories."},
            ]
            gid = store.generations.log(
                draft.id, "continue", {}, i, "tiny", cands, prompt_tail=text[-200:], prompt=text
            )
            text += cands[0]["text"]
            store.generations.mark_inserted(gid, 0, text=text)
        return draft.id


def _one_error_line(proc, code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("writer: error: "), repr(proc.stderr)
    return lines[0]


def test_learn_from_the_log_then_generate_with_it(isolated_user_dirs, tiny_model_dir, tmp_path):
    draft_id = _logged_draft()
    out = tmp_path / "pairs.jsonl"
    export = run_writer(
        "drafts", "export", str(draft_id), "--pairs", "-o", str(out), env=isolated_user_dirs
    )
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and set(rows[0]) == {"prompt", "chosen", "rejected"}
    assert rows[0] == {
        "prompt": "The fox",
        "chosen": " walked to the river bank number 0.",
        "rejected": " saw the ship.",
    }
    again = call_writer("drafts", "export", str(draft_id), "--pairs", "-o", str(out))
    assert again.returncode == 1 and "--force" in again.stderr  # export's -o rules hold
    base = str(tiny_model_dir)
    learned = run_writer(
        "learn",
        "--name",
        "taste",
        "--base",
        base,
        "--draft",
        str(draft_id),
        *FAST,
        "--json",
        env=isolated_user_dirs,
    )
    assert learned.returncode == 0, learned.stderr
    report = json.loads(learned.stdout)
    keys = REPORT_KEYS | OWN_TEXT_KEYS
    assert set(report["before"]) == keys and set(report["after"]) == keys
    # The author's own text, by default: the held-out pair's prompt (the story before it).
    assert report["after"]["own_text"] == "held-out prompts"
    assert report["after"]["own_text_tokens"] == report["before"]["own_text_tokens"] > 0
    assert report["before"]["own_text_perplexity"] > 1
    assert report["sft_weight"] == 1.0 and report["train_seconds"] > 0
    assert report["pairs"]["from_log"] == 8 and report["pairs"]["held_out"] == 1
    assert report["pairs"]["requests"] == 4 and report["pairs"]["rebuilt"] == 0
    assert report["before"]["reward_margin"] == 0 and report["before"]["kl_to_base"] == 0
    assert report["method"] == "full" and report["steps"] == 2
    generated = run_writer(
        "generate",
        "The fox",
        "--model",
        "taste",
        "-n",
        "1",
        "--max-new-tokens",
        "4",
        env=isolated_user_dirs,
    )
    assert generated.returncode == 0, generated.stderr
    # In this process (no new interpreter): the text report from the exported file.
    text = call_writer(
        "learn", "--name", "taste2", "--base", base, "--pairs", str(out), *FAST, "--sft-weight", "0"
    )
    assert text.returncode == 0, text.stderr
    assert "preference accuracy" in text.stdout and "writer --model taste2" in text.stdout
    assert "NLL weight: 0" in text.stdout and "perplexity of your text" in text.stdout


def test_interrupted_learn_resumes(isolated_user_dirs, tiny_model_dir, tmp_path):
    pairs = str(_pairs_file(tmp_path / "p.jsonl"))
    args = ["learn", "--name", "r", "--base", str(tiny_model_dir), "--pairs", pairs]
    args += ["--steps", "3", "--batch-size", "2", "--method", "lora"]  # the adapter's path
    stopped = run_writer(*args, "--stop-after-steps", "1", env=isolated_user_dirs)
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted at step 1/3" in stopped.stderr and "--resume" in stopped.stderr
    assert (checkpoint.folder("r") / "trainer" / "checkpoint-1").is_dir()  # the Trainer's
    assert "--resume" in _one_error_line(call_writer(*args))
    resumed = run_writer(*args, "--resume", "--json", env=isolated_user_dirs)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["steps"] == 3 and report["method"] == "lora"
    assert (models_dir() / "r" / "adapter").is_dir() and not checkpoint.folder("r").exists()


def test_bad_input_is_one_line(isolated_user_dirs, tiny_model_dir, tmp_path, monkeypatch):
    base = ["--base", str(tiny_model_dir), *FAST]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{oops\n')
    line = _one_error_line(call_writer("learn", "--name", "x", "--pairs", str(bad), *base))
    assert "bad.jsonl, line 2: not JSON" in line
    one = _pairs_file(tmp_path / "one.jsonl", count=1)
    assert "too few pairs" in _one_error_line(
        call_writer("learn", "--name", "x", "--pairs", str(one), *base)
    )
    good = str(_pairs_file(tmp_path / "good.jsonl"))
    missing = call_writer("learn", "--name", "x", "--pairs", good, "--base", str(tmp_path / "no"))
    assert "does not exist" in _one_error_line(missing)
    with DraftStore.open() as store:
        empty = store.create_draft("nothing picked").id
    none = call_writer("learn", "--name", "x", "--draft", str(empty), *base)
    assert "no preference pairs" in _one_error_line(none)
    assert "--draft ID" in _one_error_line(call_writer("learn", "--name", "x"), code=2)
    monkeypatch.setitem(sys.modules, "trl", None)  # as if TRL were not installed
    line = _one_error_line(call_writer("learn", "--name", "x", "--pairs", good))
    assert line == 'writer: error: writer learn needs TRL: pip install -e ".[learn]"'


@pytest.mark.parametrize(
    "flag", [["--beta", "0"], ["--holdout", "0.7"], ["--steps", "0"], ["--sft-weight", "-1"]]
)
def test_bad_values_are_usage_errors(flag) -> None:
    proc = call_writer("learn", "--name", "x", "--pairs", "p.jsonl", *flag)
    assert flag[0] in _one_error_line(proc, code=2)
