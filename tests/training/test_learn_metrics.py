"""The perplexity of the author's own text in `writer learn`'s report, on the tiny model."""

from __future__ import annotations

import math
from pathlib import Path

from writer.training import preference_metrics as metrics


def test_own_text_perplexity_is_over_each_distinct_texts_end(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = GPT2LMHeadModel.from_pretrained(str(tiny_model_dir))
    story = "The fox walked to the river and looked at the water."
    ids = tokenizer.encode(story)
    the = tokenizer.encode("The")
    windows = metrics.text_windows(tokenizer, [story, story, "", "The"], max_length=5)
    # the repeat and the texts with nothing to predict are left out; a long text keeps its end
    assert windows == [ids[-5:]] + ([the] if len(the) >= 2 else [])
    assert all(len(w) >= 2 for w in windows)
    nll, tokens = metrics.text_nll(model, windows)
    assert tokens == sum(len(w) - 1 for w in windows) and nll > 0
    scores = [metrics.PairScores(-1.0, -2.0, 1, 1)]
    report = metrics.report(scores, scores, 0.1, 0.0, ("given", nll, tokens)).as_dict()
    assert report["own_text"] == "given" and report["own_text_tokens"] == tokens
    assert math.isclose(report["own_text_perplexity"], math.exp(nll / tokens))
    plain = metrics.report(scores, scores, 0.1).as_dict()
    assert set(plain) == {"accuracy", "reward_margin", "kl_to_base", "perplexity", "pairs"}
