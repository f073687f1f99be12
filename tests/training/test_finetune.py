"""Fine-tuning on the tiny model, through the engine API: it learns, it resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from writer.errors import WriterError
from writer.training.finetune import FinetuneInterrupted, FinetuneOptions, finetune

FAST = {"block_size": 32, "batch_size": 4, "micro_batch_size": 2}


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    (folder / "part").mkdir(parents=True)
    (folder / "one.txt").write_text(CORPUS * 3, encoding="utf-8")
    (folder / "part" / "two.md").write_text(CORPUS * 2, encoding="utf-8")
    (folder / "notes.json").write_text('{"not": "text"}', encoding="utf-8")  # ignored
    return folder


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    if (folder / "adapter").is_dir():
        return load_file(folder / "adapter" / "adapter_model.safetensors")
    return load_file(folder / "model.safetensors")


def test_full_finetune_halves_holdout_perplexity_and_saves_loadable_model(
    corpus_dir: Path, tiny_model_dir: Path
) -> None:
    from writer.engine.models import load_model_and_tokenizer, resolve_model

    result = finetune(
        [corpus_dir],
        FinetuneOptions(name="fox", base=str(tiny_model_dir), steps=40, lr=3e-3, **FAST),
    )
    assert result.perplexity_after < result.perplexity_before / 2
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["method"] == "full"  # auto picks full for a tiny model
    assert manifest["base"] == str(tiny_model_dir.resolve())
    assert manifest["steps"] == 40
    assert manifest["data_fingerprint"].startswith("sha256:")
    assert len(manifest["files"]) == 2  # .txt and .md found recursively, .json skipped
    assert result.sample_before != result.sample_after
    source = resolve_model("fox")
    assert source.kind == "finetuned"
    model, tokenizer, _ = load_model_and_tokenizer("fox", device="cpu")
    assert tokenizer.eos_token_id is not None


def test_interrupted_then_resumed_lora_run_matches_uninterrupted(
    corpus_dir: Path, tiny_model_dir: Path
) -> None:
    """LoRA draws from every RNG (adapter init, dropout, data order): all must be restored.

    The full method's resume goes through the CLI in test_finetune_cli.py.
    """
    import torch

    from writer.engine.models import load_model_and_tokenizer

    opts = dict(base=str(tiny_model_dir), method="lora", steps=6, lr=3e-3, seed=3, **FAST)
    straight = finetune([corpus_dir], FinetuneOptions(name="straight", **opts))
    with pytest.raises(FinetuneInterrupted) as stop:
        finetune([corpus_dir], FinetuneOptions(name="resumed", **opts), stop_after_steps=2)
    assert stop.value.step == 2 and stop.value.checkpoint is not None
    assert not (straight.folder.parent / "resumed").exists()  # a checkpoint is not a model
    # Stop again: the second resume starts from a resumed run's checkpoint.
    with pytest.raises(FinetuneInterrupted):
        finetune([corpus_dir], FinetuneOptions(name="resumed"), resume=True, stop_after_steps=2)
    resumed = finetune([corpus_dir], FinetuneOptions(name="resumed"), resume=True)
    a, b = _weights(straight.folder), _weights(resumed.folder)
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.manifest["perplexity_after"] == straight.manifest["perplexity_after"]
    assert resumed.sample_after == straight.sample_after
    assert not stop.value.checkpoint.exists()  # removed once the model is saved

    # The adapter is saved alone (megabytes, not a full copy) and merged when loaded.
    assert (resumed.folder / "adapter" / "adapter_config.json").is_file()
    assert not (resumed.folder / "model.safetensors").exists()
    assert resumed.manifest["lora_r"] == 8
    model, _, source = load_model_and_tokenizer("resumed", device="cpu")
    assert source.manifest["method"] == "lora"
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_resume_refuses_changed_text_or_settings(corpus_dir: Path, tiny_model_dir: Path) -> None:
    opts = FinetuneOptions(name="x", base=str(tiny_model_dir), steps=5, **FAST)
    with pytest.raises(FinetuneInterrupted):
        finetune([corpus_dir], opts, stop_after_steps=1)
    with pytest.raises(WriterError, match="--lr .* differs"):
        finetune([corpus_dir], FinetuneOptions(name="x", lr=0.5), resume=True)
    with pytest.raises(WriterError, match="--resume"):
        finetune([corpus_dir], opts)  # a checkpoint exists: resume or overwrite
    (corpus_dir / "one.txt").write_text(CORPUS + "A new ending.", encoding="utf-8")
    with pytest.raises(WriterError, match="text differs"):
        finetune([corpus_dir], FinetuneOptions(name="x"), resume=True)


def test_short_text_gets_a_smaller_default_block(tmp_path: Path, tiny_model_dir: Path) -> None:
    (tmp_path / "short.txt").write_text(CORPUS, encoding="utf-8")  # ~236 tokens
    result = finetune(
        [tmp_path / "short.txt"], FinetuneOptions(name="s", base=str(tiny_model_dir), steps=1)
    )
    assert result.manifest["block_size"] in (32, 64)
    with pytest.raises(WriterError, match="already exists"):
        finetune([tmp_path], FinetuneOptions(name="s", base=str(tiny_model_dir), steps=1))
    again = finetune(
        [tmp_path],
        FinetuneOptions(name="s", base=str(tiny_model_dir), steps=2, seed=1),
        overwrite=True,
    )
    assert again.manifest["steps"] == 2 and again.folder == result.folder
    assert sorted(p.name for p in again.folder.parent.iterdir()) == ["s"]  # no staging left
