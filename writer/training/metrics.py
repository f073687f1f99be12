"""Continuation metrics: overlap with the true text, diversity, loops; and the Wilson interval.

Torch-free on purpose (the compare screen and `writer stats` use parts of it). Overlap scores
come from the standard libraries, never re-implemented: BLEU and chrF from `sacrebleu`
(corpus-level, its default 13a tokenizer and smoothing), ROUGE-L from Google's `rouge-score`
(F-measure, its default tokenizer: lower-cased alphanumeric words). Scores are on sacrebleu's
0-100 scale (ROUGE-L F1 is multiplied by 100 to match); rates are fractions 0-1.

Diversity and loops work on simple word tokens (lower-cased runs of letters/digits, and single
punctuation marks):
- distinct-n (Li et al. 2016): distinct n-grams / all n-grams over the n candidates of one
  prompt, averaged over prompts: how different the candidates an author is shown are;
- self-BLEU (Zhu et al. 2018, Texygen): each candidate's sentence BLEU (sacrebleu) against the
  other candidates of the same prompt, averaged; high = the candidates say the same thing;
- repeated-n-gram rate (seq-rep-4, Welleck et al. 2019): within one candidate, 1 - distinct
  4-grams / 4-grams, averaged over candidates; high = the model loops.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

_WORD = re.compile(r"\w+|[^\w\s]")
REPEAT_N = 4  # seq-rep-4: the n-gram length of the repeated-n-gram rate


def words(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (for diversity and loop measures)."""
    return _WORD.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over `texts` (None when they hold no n-gram)."""
    grams = [g for text in texts for g in _ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else None


def repeated_ngram_rate(text: str, n: int = REPEAT_N) -> float | None:
    """1 - distinct n-grams / n-grams within one text (None when shorter than n words)."""
    grams = _ngrams(words(text), n)
    return 1 - len(set(grams)) / len(grams) if grams else None


def self_bleu(texts: Sequence[str]) -> float | None:
    """Mean sentence BLEU of each text against the others (None for fewer than two texts)."""
    import sacrebleu

    if len(texts) < 2:
        return None
    scores = [
        sacrebleu.sentence_bleu(text, [o for j, o in enumerate(texts) if j != i]).score
        for i, text in enumerate(texts)
    ]
    return sum(scores) / len(scores)


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus BLEU (0-100), one reference per hypothesis."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus chrF (0-100), one reference per hypothesis."""
    import sacrebleu

    return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure (rouge-score, x100) of each hypothesis against its reference."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    if not hypotheses:
        return 0.0
    total = sum(
        scorer.score(ref, hyp)["rougeL"].fmeasure
        for hyp, ref in zip(hypotheses, references, strict=True)
    )
    return 100.0 * total / len(hypotheses)


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


@dataclass(frozen=True)
class ContinuationScores:
    """One row of `writer eval --continuations` (the JSON row's fields, in order)."""

    model: str
    preset: str
    samples: int
    bleu: float
    chrf: float
    rouge_l: float
    distinct_1: float | None
    distinct_2: float | None
    self_bleu: float | None
    repeated_ngram_rate: float | None
    true_logprob: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def score_continuations(
    model: str,
    preset: str,
    references: Sequence[str],
    candidates: Sequence[Sequence[str]],
    true_logprob: float,
) -> ContinuationScores:
    """Every metric for one model and preset.

    `references[i]` is the true continuation of prompt i and `candidates[i]` the texts generated
    for it; `true_logprob` is the mean log-probability (nats per token) of the true continuations.
    """
    if len(references) != len(candidates):
        raise ValueError("one list of candidates per reference")
    hyps = [c for cands in candidates for c in cands]
    refs = [r for r, cands in zip(references, candidates, strict=True) for _ in cands]
    return ContinuationScores(
        model=model,
        preset=preset,
        samples=len(references),
        bleu=bleu(hyps, refs),
        chrf=chrf(hyps, refs),
        rouge_l=rouge_l(hyps, refs),
        distinct_1=_mean([distinct_n(c, 1) for c in candidates]),
        distinct_2=_mean([distinct_n(c, 2) for c in candidates]),
        self_bleu=_mean([self_bleu(c) for c in candidates]),
        repeated_ngram_rate=_mean([repeated_ngram_rate(h) for h in hyps]),
        true_logprob=true_logprob,
    )
