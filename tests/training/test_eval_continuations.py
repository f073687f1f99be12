"""`writer eval --continuations`: metrics equal the libraries' own numbers; pairs; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from tests.conftest import CORPUS, call_writer, run_writer
from writer.errors import WriterError
from writer.store.judgments import wilson_interval
from writer.training.metrics import (
    bleu,
    chrf,
    distinct_n,
    repeated_ngram_rate,
    rouge_l,
    score_continuations,
    self_bleu,
)

HYPS = ["the cat sat on the mat", "a dog ran in the park today", "she opened the door"]
REFS = ["the cat is on the mat", "the dog ran to the park", "he closed the old door"]

FIELDS = [
    "model",
    "preset",
    "samples",
    "bleu",
    "chrf",
    "rouge_l",
    "distinct_1",
    "distinct_2",
    "self_bleu",
    "repeated_ngram_rate",
    "true_logprob",
]


def test_overlap_metrics_are_the_libraries_own() -> None:
    assert bleu(HYPS, REFS) == sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert chrf(HYPS, REFS) == sacrebleu.corpus_chrf(HYPS, [REFS]).score
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(HYPS, REFS, strict=True)]
    assert rouge_l(HYPS, REFS) == pytest.approx(100 * sum(expected) / 3)
    assert 0 < bleu(HYPS, REFS) < 100


def test_self_bleu_is_sacrebleu_sentence_bleu_against_the_others() -> None:
    texts = HYPS
    expected = [
        sacrebleu.sentence_bleu(texts[i], [t for j, t in enumerate(texts) if j != i]).score
        for i in range(3)
    ]
    assert self_bleu(texts) == pytest.approx(sum(expected) / 3)
    assert self_bleu(["same words here", "same words here"]) == pytest.approx(100)
    assert self_bleu(["one"]) is None


def test_distinct_and_repetition_on_fixed_strings() -> None:
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert distinct_n([""], 1) is None
    # "the fox ran . the fox ran ." : 4-grams 5, distinct 4 -> 1 - 4/5
    assert repeated_ngram_rate("The fox ran. The fox ran.") == pytest.approx(0.2)
    assert repeated_ngram_rate("one two three four five") == 0.0
    assert repeated_ngram_rate("too short") is None


def test_scores_row_has_the_issue_fields() -> None:
    row = score_continuations("m", "p", REFS[:2], [HYPS[:2], HYPS[1:]], -3.5)
    assert list(row.as_dict()) == FIELDS
    assert row.samples == 2 and row.true_logprob == -3.5
    # Corpus BLEU over every (candidate, its prompt's truth) pair.
    assert (
        row.bleu
        == sacrebleu.corpus_bleu(HYPS[:2] + HYPS[1:], [[REFS[0]] * 2 + [REFS[1]] * 2]).score
    )


@pytest.mark.parametrize(
    "k,n,low,high",
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Stat Med 17:857, example (i)
        (15, 148, 0.0624, 0.1605),  # Newcombe (1998), example (ii)
        (0, 20, 0.0, 0.1611),  # Newcombe (1998), example (iii)
        (1, 29, 0.0061, 0.1718),  # Newcombe (1998), example (iv)
        (8, 10, 0.4902, 0.9433),
    ],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


def test_wilson_without_trials_is_everything() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


# -- pairs and the true log-probability ---------------------------------------------------------


def test_pairs_are_whole_words_and_deterministic(tiny_engine) -> None:
    from writer.training.corpus import encode_documents
    from writer.training.evaluate import make_pairs

    tok = tiny_engine.tokenizer
    ids = encode_documents(tok, [CORPUS * 2, CORPUS])
    pairs = make_pairs(tok, ids, 20, 8, 5)
    assert len(pairs) == 5
    assert pairs == make_pairs(tok, ids, 20, 8, 5)
    for pair in pairs:
        assert len(pair.prompt_ids) == 20 and len(pair.continuation_ids) == 8
        assert tok.eos_token_id not in pair.prompt_ids + pair.continuation_ids
        assert not pair.continuation[0].isalnum()  # the split is at a word start
    every = make_pairs(tok, ids, 20, 8, 10_000)
    assert len(every) > 5  # all non-overlapping spans when fewer than --samples
    with pytest.raises(WriterError, match="too short for continuation pairs"):
        make_pairs(tok, encode_documents(tok, ["The fox."]), 20, 8, 5)


def test_true_logprob_is_the_models_own(tiny_engine, tiny_model_dir: Path) -> None:
    import torch

    from writer.engine.models import load_model_and_tokenizer
    from writer.training.evaluate import ContinuationPair, true_logprob

    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    ids = tok(CORPUS[:200])["input_ids"][:30]
    pair = ContinuationPair(tuple(ids[:22]), tuple(ids[22:]), "", "")
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
    expected = [logp[t - 1, ids[t]].item() for t in range(22, 30)]
    assert true_logprob(tiny_engine, pair) == pytest.approx(expected, abs=1e-4)


# -- the command --------------------------------------------------------------------------------

SMALL = ["--window", "24", "--length", "8", "--samples", "4", "-n", "3"]


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_text(CORPUS * 3, encoding="utf-8")
    return path


def test_cli_json_rows_side_by_side_and_deterministic(
    story: Path, tiny_model_dir: Path, isolated_user_dirs
) -> None:
    args = ["eval", str(story), "--model", str(tiny_model_dir), "--continuations", *SMALL]
    args += ["--preset", "greedy", "--preset", "wild", "--seed", "7", "--json"]
    first = run_writer(*args, env=isolated_user_dirs)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert [list(r) for r in data["rows"]] == [FIELDS, FIELDS]
    assert [r["preset"] for r in data["rows"]] == ["greedy", "wild"]
    assert all(r["samples"] == 4 for r in data["rows"])
    assert data["seed"] == 7
    greedy, wild = data["rows"]
    assert greedy["true_logprob"] == wild["true_logprob"] < 0  # the truth does not depend on it
    assert greedy["self_bleu"] > wild["self_bleu"]  # greedy candidates are all alike
    again = call_writer(*args, env=isolated_user_dirs)  # in this process: same rows still
    assert json.loads(again.stdout) == data


def test_cli_table_reports_samples_and_seed(
    story: Path, tiny_model_dir: Path, isolated_user_dirs
) -> None:
    result = run_writer(
        "eval", str(story), "--model", str(tiny_model_dir), "--continuations", *SMALL,
        env=isolated_user_dirs,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "BLEU" in result.stdout and "balanced" in result.stdout
    assert "samples: 4 prompt/continuation pairs" in result.stdout
    assert "seed 0" in result.stdout


@pytest.mark.parametrize(
    "extra,message,code",
    [
        (["--continuations", "--preset", "nosuch"], "unknown preset 'nosuch'", 1),
        (["--continuations", "--window", "200"], "exceed the model's context", 2),
        (["--continuations", "--window", "100", "--length", "20"], "too short", 1),
        (["--preset", "wild"], "--preset applies to --continuations", 2),
        (["--continuations", "--holdout", "2"], "--holdout must be between 0 and 1", 2),
    ],
)
def test_cli_bad_input_is_one_line(
    tmp_path: Path, tiny_model_dir: Path, isolated_user_dirs, extra, message, code
) -> None:
    short = tmp_path / "short.txt"
    short.write_text(CORPUS[:150], encoding="utf-8")
    # In this process (the unknown model below is the subprocess check of eval's errors).
    result = call_writer(
        "eval", str(short), "--model", str(tiny_model_dir), *extra, env=isolated_user_dirs
    )
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("writer: error:"), result.stderr
    assert message in lines[0]


def test_cli_unknown_model_is_one_line(story: Path, isolated_user_dirs) -> None:
    result = run_writer(
        "eval", str(story), "--model", "no-such-model", "--continuations", *SMALL,
        env=isolated_user_dirs,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-model" in lines[0]
