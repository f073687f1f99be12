"""bench.learn_speed runs both ways end to end on a tiny model (no timing checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import models


def test_learn_speed_reports_writer_and_trl(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.learn_speed import main

    if (models.DEFAULT_TOKENIZER / "tokenizer.json").is_file():  # the real GPT-2 vocabulary
        model = ["--size", "tiny", "--models-dir", str(tmp_path / "models")]
    else:  # the tests' own tiny GPT-2 when GPT-2's tokenizer is not checked out beside
        model = ["--model", str(tiny_model_dir)]
    small = ["--steps", "1", "--pairs", "4", "--batch-size", "2"]
    small += ["--prompt-words", "20", "--completion-words", "5", "--json"]
    assert main([*model, *small]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ways = report["ways"]
    assert [w["way"] for w in ways] == ["writer learn", "TRL DPOTrainer (defaults)"]
    for way in ways:
        assert 0 < way["train_s"] <= way["process_s"], way
        assert way["pairs_per_s"] > 0
        assert way["peak_rss_mb"] > 100
    assert report["time_ratio"] > 0 and report["rss_ratio"] > 0
