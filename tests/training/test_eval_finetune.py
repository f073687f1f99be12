"""`writer finetune`'s report: continuation metrics before/after and a `writer compare` line."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import CORPUS, call_writer, run_writer

FAST = ["--steps", "6", "--block-size", "32", "--batch-size", "2", "--micro-batch-size", "2"]


def test_report_has_continuation_metrics_and_a_compare_command(
    tmp_path: Path, tiny_model_dir: Path, isolated_user_dirs: dict[str, str]
) -> None:
    story = tmp_path / "story.txt"
    story.write_text(CORPUS * 4, encoding="utf-8")
    base = ["finetune", str(story), "--base", str(tiny_model_dir), *FAST]
    done = run_writer(*base, "--name", "tuned", env=isolated_user_dirs)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "continuation metrics on the held-out part" in out
    before = re.search(r"^  before +(-?[\d.]+) +(-?[\d.]+)", out, re.M)
    after = re.search(r"^  after +(-?[\d.]+) +(-?[\d.]+)", out, re.M)
    assert before and after, out
    command = re.search(r"judge it yourself: (writer compare .*)$", out, re.M)
    assert command and f"--a {tiny_model_dir} --b tuned --holdout 0.1" in command.group(1)

    # In this process: the run above is the end-to-end one.
    skipped = call_writer(*base, "--name", "quick", "--no-continuations", env=isolated_user_dirs)
    assert skipped.returncode == 0, skipped.stderr
    assert "continuation metrics" not in skipped.stdout
    assert "held-out perplexity after" in skipped.stdout
