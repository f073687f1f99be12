"""The benchmark harness runs end to end on a tiny model and tiny workloads (no timing checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import models

pytestmark = pytest.mark.skipif(
    not (models.DEFAULT_TOKENIZER / "tokenizer.json").is_file(),
    reason="GPT-2 tokenizer not at ../shared/gpt2-tokenizer",
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built models (tiny GPT-2 + its CTranslate2 conversion), shared by this module's tests."""
    return tmp_path_factory.mktemp("bench-models")


def test_quick_benchmark_reports_every_way_and_workload(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.run import main

    out = tmp_path / "result.json"
    argv = ["--quick", "--models-dir", str(models_dir), "--json", str(out)]
    assert main([*argv, "--precision", "bf16"]) == 0
    data = json.loads(out.read_text())
    rows = {(r["workload"], r["way"]): r for r in data["summary"]}
    ways = {"engine", "engine-bf16", "plain"}
    try:
        import ctranslate2  # noqa: F401

        ways.add("ct2")
    except ImportError:
        assert any("CTranslate2" in s for s in data["skipped"])
    assert {w for _, w in rows} == ways
    for (workload, way), row in rows.items():
        assert 0 < row["first_token_s"] <= row["wall_s"], (workload, way)
        assert row["peak_rss_mb"] > 0
        # stop="none" with a forced length: every candidate has exactly the asked token count
        assert row["tokens"] == ([16] if workload == "W2" else [8]), (workload, way, row)
    # W4 is W1 plus typed tokens: the engine serves W1's whole prompt from its prefix cache.
    assert rows[("W4", "engine")]["reused_tokens"] == 64
    assert rows[("W1", "engine")]["reused_tokens"] == 0
    assert len(data["checks"]) >= 8
    assert all(c.split()[0] in ("PASS", "FAIL", "SKIP") for c in data["checks"])
    from writer.engine.loading import auto_precision

    # Every engine not in fp32 is compared with an fp32 reference: the default (auto) and bf16.
    by_precision = {q["precision"]: q for q in data["quality"]}
    assert set(by_precision) == {"bf16"} | ({auto_precision("cpu")} - {"fp32"})
    assert all(0.5 <= q["top1_agreement"] <= 1.0 for q in data["quality"])
    assert data["setup"]["precisions"]["engine"] == auto_precision("cpu")
    report = capsys.readouterr().out
    assert "| W4 | engine (reused 64) |" in report
    assert "Machine:" in report and "threads for every way" in report


def test_hf_cache_layout_loads_as_gpt2_offline(
    tmp_path: Path, models_dir: Path, isolated_user_dirs: dict[str, str]
) -> None:
    from bench.run import main

    hf_home = tmp_path / "hf"
    argv = ["--quick", "--models-dir", str(models_dir), "--hf-cache-layout", str(hf_home)]
    assert main(argv) == 0
    # A fresh process: huggingface_hub reads HF_HOME once, at import.
    code = (
        "from writer.engine.models import load_model_and_tokenizer as load\n"
        "m, t, s = load('gpt2', device='cpu')\n"
        "print(s.kind, m.config.n_layer, m.config.n_embd, t.eos_token_id)"
    )
    env = {**os.environ, **isolated_user_dirs, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    spec = models.SPECS["tiny"]
    assert done.stdout.split() == ["hub", str(spec.n_layer), str(spec.n_embd), "50256"]


def test_isolated_mode_runs_each_way_in_its_own_process(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.run import main

    out = tmp_path / "isolated.json"
    argv = ["--quick", "--isolated", "--no-plain", "--no-ct2", "--workloads", "W1,W2"]
    assert main([*argv, "--models-dir", str(models_dir), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["setup"]["isolated"] is True
    assert {(r["workload"], r["way"]) for r in data["summary"]} == {
        ("W1", "engine"),
        ("W2", "engine"),
    }
    (proc,) = data["setup"]["processes"]["engine"]
    assert proc["load_s"] > 0 and proc["process_first_token_s"] > 0
    assert "each way in its own process" in capsys.readouterr().out


def test_hog_mode_reports_quiet_and_hog_times(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.run import main

    assert main(["--quick", "--hog", "--repeat", "1", "--models-dir", str(models_dir)]) == 0
    report = capsys.readouterr().out
    assert "| on (default) |" in report and "| off (fixed threads) |" in report
    assert "W1 with a hog: engine" in report


def test_step_split_reports_each_group_per_step(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.step_split import main
    from writer.engine.gpt2.backends import ThreadGovernor

    out = tmp_path / "split.json"
    argv = ["--size", "tiny", "--loads", "quiet", "--threads", "1", "--workloads", "W2"]
    assert main([*argv, "--repeat", "1", "--models-dir", str(models_dir), "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["load"] == "quiet" and row["threads"] == 1 and row["step_ms"] > 0
    assert row["split_ms"]["sampling"] > 0 and sum(row["split_ms"].values()) > 0
    assert ThreadGovernor.enabled  # the bench gives the governor back
    assert "| quiet | 1 | W2 |" in capsys.readouterr().out
