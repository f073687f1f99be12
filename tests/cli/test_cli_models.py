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


def _one_error(proc, code: int = 1) -> str:
    lines = proc.stderr.splitlines()
    assert proc.returncode == code and len(lines) == 1, proc.stderr
    assert lines[0].startswith("writer: error: ")
    return lines[0]


def test_rename_and_delete_finetuned_models(isolated_user_dirs: dict[str, str]) -> None:
    """Fine-tunes can be renamed and deleted; hub models are never touched."""
    env = isolated_user_dirs
    data = env["XDG_DATA_HOME"]
    _fake_finetuned(data, "noir", {"name": "noir", "base": "gpt2", "method": "lora"})
    _fake_finetuned(data, "other", {"name": "other", "base": "gpt2", "method": "full"})
    checkpoints = Path(data) / "writer" / "checkpoints" / "noir"
    checkpoints.mkdir(parents=True)
    (checkpoints / "checkpoint.pt").write_bytes(b"state")

    renamed = run_writer("models", "rename", "noir", "noir-2", env=env)
    assert renamed.returncode == 0, renamed.stderr
    models = Path(data) / "writer" / "models"
    assert not (models / "noir").exists()
    manifest = json.loads((models / "noir-2" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "noir-2"
    assert (Path(data) / "writer" / "checkpoints" / "noir-2" / "checkpoint.pt").is_file()

    assert "already exists" in _one_error(
        run_writer("models", "rename", "noir-2", "other", env=env)
    )
    assert "taken by the hub model 'gpt2'" in _one_error(
        run_writer("models", "rename", "noir-2", "gpt2", env=env)
    )
    assert "invalid model name" in _one_error(
        run_writer("models", "rename", "noir-2", "../x", env=env)
    )
    assert "no fine-tuned model named 'noir'" in _one_error(
        run_writer("models", "delete", "noir", env=env)
    )
    assert "is a hub model" in _one_error(run_writer("models", "delete", "gpt2", env=env))

    deleted = run_writer("models", "delete", "noir-2", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert sorted(p.name for p in models.iterdir()) == ["other"]
    assert not (Path(data) / "writer" / "checkpoints" / "noir-2").exists()
    listed = run_writer("models", env=env).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["other"]


def test_old_finetune_named_like_a_hub_model_no_longer_hides_it(
    isolated_user_dirs: dict[str, str],
) -> None:
    from writer.engine.models import resolve_model

    _fake_finetuned(isolated_user_dirs["XDG_DATA_HOME"], "gpt2", {"base": "gpt2"})
    assert resolve_model("gpt2").kind == "hub"
    assert resolve_model("openai-community/gpt2").kind == "hub"
    listed = run_writer("models", env=isolated_user_dirs).stdout
    assert "writer models rename gpt2 NEW" in listed
    renamed = run_writer("models", "rename", "gpt2", "my-gpt2", env=isolated_user_dirs)
    assert renamed.returncode == 0, renamed.stderr
    assert resolve_model("my-gpt2").kind == "finetuned"
