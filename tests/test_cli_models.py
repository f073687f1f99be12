"""`writer models`: cached base models and fine-tuned models with their manifests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_writer


def _fake_finetuned(data_home: str, name: str, manifest: dict | None) -> Path:
    folder = Path(data_home) / "writer" / "models" / name
    folder.mkdir(parents=True)
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_lists_finetuned_models_one_per_line(isolated_user_dirs: dict[str, str]) -> None:
    env = isolated_user_dirs
    empty = run_writer("models", env=env)
    assert empty.returncode == 0 and "no models yet" in empty.stdout

    manifest = {
        "name": "noir",
        "base": "gpt2",
        "method": "lora",
        "steps": 150,
        "perplexity_before": 60.25,
        "perplexity_after": 21.5,
        "date": "2025-01-02T03:04:05+00:00",
    }
    _fake_finetuned(env["XDG_DATA_HOME"], "noir", manifest)
    _fake_finetuned(env["XDG_DATA_HOME"], "half-written", None)  # no manifest: not a model
    proc = run_writer("models", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].split()[:2] == ["noir", "finetuned"]
    assert "lora on gpt2, 150 steps, perplexity 60.2 -> 21.5, 2025-01-02" in lines[0]

    as_json = json.loads(run_writer("models", "--json", env=env).stdout)
    assert as_json == [
        {
            "name": "noir",
            "kind": "finetuned",
            "location": str(Path(env["XDG_DATA_HOME"]) / "writer" / "models" / "noir"),
            "manifest": manifest,
        }
    ]
