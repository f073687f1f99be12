"""The steering and logprobs bench ways run end to end on the tiny bench model (no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import models

pytestmark = pytest.mark.skipif(
    not (models.DEFAULT_TOKENIZER / "tokenizer.json").is_file(),
    reason="GPT-2 tokenizer not at ../shared/gpt2-tokenizer",
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-models")


def test_steer_way_runs_w1_and_w4_with_every_sampler(tmp_path: Path, models_dir: Path) -> None:
    from bench.run import main

    out = tmp_path / "steer.json"
    argv = ["--quick", "--models-dir", str(models_dir), "--json", str(out), "--steer",
            "--workloads", "W1,W4", "--no-ct2", "--no-plain"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(out.read_text())
    rows = {(r["workload"], r["way"]): r for r in data["summary"]}
    assert set(rows) == {(w, way) for w in ("W1", "W4") for way in ("engine", "engine-steer")}
    assert rows[("W4", "engine-steer")]["reused_tokens"] == 64  # the cache still serves W1
    assert all(r["tokens"] == [8] for r in rows.values())
    assert any("steering sampler" in c for c in data["checks"])


def test_context_cache_measurement_reports_both_ways(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.run import main

    assert main(["--quick", "--models-dir", str(models_dir), "--context-cache"]) == 0
    report = capsys.readouterr().out
    assert "| story only |" in report and "| memory + 3 lorebook + note |" in report
    assert " entries), note " in report


def test_loops_measurement_reports_both_ways(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.run import main

    assert main(["--quick", "--models-dir", str(models_dir), "--loops"]) == 0
    report = capsys.readouterr().out
    assert "| balanced, no repetition penalty |" in report and "| same + DRY" in report


def test_logprobs_way_runs_w1_and_reports_its_check(tmp_path: Path, models_dir: Path) -> None:
    """The engine-logprobs way records token probabilities; the check line is there."""
    from bench.run import main

    out = tmp_path / "logprobs.json"
    argv = ["--quick", "--models-dir", str(models_dir), "--json", str(out), "--logprobs",
            "--workloads", "W1", "--no-ct2", "--no-plain"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert {r["way"] for r in data["summary"]} == {"engine", "engine-logprobs"}
    assert any("recording token probabilities" in c for c in data["checks"])
