"""Perplexity with a sliding window, and corpus reading, on the tiny model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.conftest import CORPUS, call_writer, run_writer
from writer.errors import WriterError
from writer.training.corpus import encode_documents, find_text_files, read_corpus, split_holdout
from writer.training.evaluate import check_window, perplexity


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    from writer.engine.models import load_model_and_tokenizer

    model, tokenizer, _ = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    return model, tokenizer


def test_one_window_equals_the_models_own_loss(tiny) -> None:
    import torch

    model, tokenizer = tiny
    ids = encode_documents(tokenizer, [CORPUS[:300]])
    assert ids[0] == tokenizer.eos_token_id  # each document starts with the separator
    result = perplexity(model, ids, block_size=len(ids), stride=len(ids))
    with torch.no_grad():
        t = torch.tensor([ids])
        loss = model(input_ids=t, labels=t).loss.item()
    assert result.tokens == len(ids) - 1
    assert result.perplexity == pytest.approx(math.exp(loss), rel=1e-4)


@pytest.mark.parametrize("block,stride", [(16, 16), (16, 5), (32, 1), (40, 39)])
def test_sliding_window_scores_every_token_once(tiny, block: int, stride: int) -> None:
    model, tokenizer = tiny
    ids = encode_documents(tokenizer, [CORPUS])[:120]
    seen: list[tuple[int, int]] = []
    result = perplexity(model, ids, block, stride, on_progress=lambda d, t: seen.append((d, t)))
    assert result.tokens == len(ids) - 1
    assert seen[-1] == (len(ids) - 1, len(ids) - 1)
    assert math.isfinite(result.perplexity) and result.perplexity > 1
    # More context per scored token (a smaller stride) can only be as good or better on average;
    # at least it is a different number, proving the window actually slides.
    full = perplexity(model, ids, len(ids), len(ids))
    assert result.nll != pytest.approx(full.nll, rel=1e-9)


def test_window_validation(tiny) -> None:
    model, _ = tiny
    assert check_window(model, None, None) == (128, 64)  # the tiny model's context
    with pytest.raises(WriterError, match="larger than the model's context"):
        check_window(model, 129, None)
    with pytest.raises(WriterError, match="--stride"):
        check_window(model, 64, 65)


def test_corpus_walks_folders_and_fingerprints_content(tmp_path: Path) -> None:
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "a" / "one.txt").write_text("One.\r\n", encoding="utf-8")
    (tmp_path / "a" / "deep" / "two.md").write_text("Two.", encoding="utf-8")
    (tmp_path / ".git" / "HEAD.txt").write_text("hidden", encoding="utf-8")
    (tmp_path / "a" / "pic.png").write_bytes(b"\x89PNG")
    files = find_text_files([tmp_path])
    assert [f.name for f in files] == ["two.md", "one.txt"]  # sorted by full path
    corpus = read_corpus([tmp_path])
    assert corpus.texts[1] == "One.\n"
    (tmp_path / "a" / "one.txt").write_text("One.\n", encoding="utf-8")  # same text, LF
    assert read_corpus([tmp_path]).fingerprint == corpus.fingerprint
    (tmp_path / "a" / "one.txt").write_text("One!\n", encoding="utf-8")
    assert read_corpus([tmp_path]).fingerprint != corpus.fingerprint
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "pic.png").write_bytes(b"\x89PNG")
    with pytest.raises(WriterError, match="no text files found"):
        read_corpus([tmp_path / "pics"])
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(WriterError, match="not UTF-8"):
        read_corpus([tmp_path / "bad.txt"])


def test_holdout_is_the_deterministic_tail() -> None:
    train, held = split_holdout(list(range(100)), 0.1)
    assert held == list(range(90, 100)) and train == list(range(90))
    assert split_holdout(list(range(5)), 0.1)[1] == [3, 4]  # at least two tokens held out


def test_eval_cli_prints_perplexity_and_tokens(
    tmp_path: Path, tiny_model_dir: Path, isolated_user_dirs: dict[str, str]
) -> None:
    (tmp_path / "story.md").write_text(CORPUS, encoding="utf-8")
    args = ["eval", str(tmp_path), "--model", str(tiny_model_dir), "--block-size", "64"]
    proc = run_writer(*args, "--stride", "32", env=isolated_user_dirs)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("perplexity: ") and float(lines[0].split()[1]) > 1
    assert lines[1].startswith("tokens: ") and "block 64, stride 32" in lines[1]
    bad = call_writer(*args, "--stride", "0", env=isolated_user_dirs)
    assert bad.returncode == 2 and bad.stderr.startswith("writer: error: --stride 0")
