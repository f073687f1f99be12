"""Per-token probabilities: what candidates and `next_tokens` report is the model's
distribution and the sampler's, checked against the model's own logits."""

from __future__ import annotations

import math

import pytest
import torch

from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
from writer.errors import WriterError
from writer.presets import SamplingParams

PROMPT = "The old lighthouse keeper"


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """transformers' own GPT-2 on the tiny model: the logits everything is checked against."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()


def _logits(reference, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return reference(torch.tensor([ids])).logits[0, -1].float()


def _params(**kw) -> SamplingParams:
    base = dict(max_new_tokens=10, stop="none", repetition_penalty=1.0, top_p=1.0, top_k=0)
    return SamplingParams(**{**base, **kw})


def _prompt_ids(engine, text: str) -> list[int]:
    return list(engine.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_token_logprobs_are_a_softmax_of_the_models_logits(tiny_engine, reference) -> None:
    params = _params(temperature=0.9, top_k=40)
    cands = tiny_engine.generate(PROMPT, params, n=2, seed=11, logprobs=10)
    prompt = _prompt_ids(tiny_engine, PROMPT)
    for cand in cands:
        assert len(cand.token_logprobs) == cand.tokens == len(cand.token_ids)
        assert "".join(t.text for t in cand.token_logprobs) == cand.text
        for i, tok in enumerate(cand.token_logprobs):
            assert tok.token_id == cand.token_ids[i]
            expected = torch.log_softmax(_logits(reference, prompt + list(cand.token_ids[:i])), -1)
            assert tok.logprob == pytest.approx(float(expected[tok.token_id]), abs=1e-4)
            assert len(tok.top) == 10
            top_lp, top_ids = expected.topk(10)
            assert [c.token_id for c in tok.top] == top_ids.tolist()
            for choice, want in zip(tok.top, top_lp.tolist(), strict=True):
                assert choice.logprob == pytest.approx(want, abs=1e-4)
            assert [c.logprob for c in tok.top] == sorted(
                (c.logprob for c in tok.top), reverse=True
            )
        # the mean log-probability is the mean of the per-token ones
        assert cand.logprob == pytest.approx(
            sum(t.logprob for t in cand.token_logprobs) / cand.tokens, abs=1e-5
        )


def _top_k_expected(logits: torch.Tensor, temperature: float, k: int) -> torch.Tensor:
    scaled = logits / temperature
    kth = scaled.topk(k).values[-1]
    return torch.log_softmax(scaled.masked_fill(scaled < kth, float("-inf")), -1)


def test_sampled_logprobs_follow_temperature_and_top_k(tiny_engine, reference) -> None:
    params = _params(temperature=0.7, top_k=5)
    prompt = _prompt_ids(tiny_engine, PROMPT)
    choices = tiny_engine.next_tokens(PROMPT, params, k=20)
    expected = _top_k_expected(_logits(reference, prompt), 0.7, 5)
    assert len(choices) == 20
    for rank, choice in enumerate(choices):
        if rank < 5:
            assert choice.sampled_logprob == pytest.approx(
                float(expected[choice.token_id]), abs=1e-4
            )
        else:  # outside the kept set: probability zero
            assert choice.sampled_logprob == float("-inf")
    assert sum(math.exp(c.sampled_logprob) for c in choices) == pytest.approx(1.0, abs=1e-5)
    # the generated tokens report the same sampling distribution
    cand = tiny_engine.generate(PROMPT, params, n=1, seed=4, logprobs=5)[0]
    first = cand.token_logprobs[0]
    assert first.sampled_logprob == pytest.approx(float(expected[first.token_id]), abs=1e-4)
    assert first.sampled_logprob > float("-inf")  # a sampled token was in the kept set


def test_sampled_logprobs_follow_top_p(tiny_engine, reference) -> None:
    prompt = _prompt_ids(tiny_engine, PROMPT)
    probs = torch.softmax(_logits(reference, prompt), -1)
    ranked = probs.sort(descending=True)
    cumulative = ranked.values.cumsum(0)
    # The tiny random model is nearly flat: pick top_p between the 4th and 5th tokens' running
    # mass, so the nucleus (the most likely tokens until their mass reaches top_p) is 5 tokens.
    top_p = float(cumulative[3] + cumulative[4]) / 2
    params = _params(temperature=1.0, top_p=top_p)
    choices = tiny_engine.next_tokens(PROMPT, params, k=20)
    cutoff = int((cumulative < top_p).sum()) + 1
    assert cutoff == 5
    kept = set(ranked.indices[:cutoff].tolist())
    mass = float(ranked.values[:cutoff].sum())
    for choice in choices:
        if choice.token_id in kept:
            want = math.log(float(probs[choice.token_id]) / mass)
            assert choice.sampled_logprob == pytest.approx(want, abs=1e-4)
        else:
            assert choice.sampled_logprob == float("-inf")


def test_greedy_sampling_is_a_point_mass(tiny_engine) -> None:
    params = _params(temperature=0.0)
    cand = tiny_engine.generate(PROMPT, params, n=2, seed=1, logprobs=3)[1]
    for tok in cand.token_logprobs:
        assert tok.sampled_logprob == 0.0
        assert tok.top[0].token_id == tok.token_id  # no penalties: greedy takes the top token
        assert all(c.sampled_logprob == float("-inf") for c in tok.top[1:])


def test_recording_does_not_change_the_candidates(tiny_engine) -> None:
    params = _params(temperature=0.8, top_k=20, top_p=0.9)
    plain = tiny_engine.generate(PROMPT, params, n=3, seed=21)
    recorded = tiny_engine.generate(PROMPT, params, n=3, seed=21, logprobs=10)
    assert [c.text for c in plain] == [c.text for c in recorded]
    assert [c.logprob for c in plain] == [c.logprob for c in recorded]
    assert all(c.token_logprobs == () for c in plain)


def test_deltas_stream_the_same_token_data(tiny_engine) -> None:
    params = _params(temperature=1.0, max_new_tokens=16, stop="sentence")
    events = list(tiny_engine.stream(PROMPT, params, n=3, seed=8, logprobs=2))
    done = events[-1]
    assert isinstance(done, GenerationDone)
    for cand in done.candidates:
        streamed = [
            tok
            for e in events
            if isinstance(e, TokenDelta) and e.index == cand.index
            for tok in e.tokens
        ]
        assert streamed == list(cand.token_logprobs)
        finished = [e for e in events if isinstance(e, CandidateDone) and e.index == cand.index]
        assert finished[0].candidate.token_logprobs == cand.token_logprobs


def test_next_tokens_match_the_first_generated_token(tiny_engine) -> None:
    """At the point of a swap, the distribution `next_tokens` reports is the one generation
    recorded there, so swapping a token and continuing starts from what the view showed."""
    params = _params(temperature=0.9, top_k=30)
    cand = tiny_engine.generate(PROMPT, params, n=1, seed=5, logprobs=10)[0]
    i = 3
    before = PROMPT + "".join(t.text for t in cand.token_logprobs[:i])
    if _prompt_ids(tiny_engine, before) != _prompt_ids(tiny_engine, PROMPT) + list(
        cand.token_ids[:i]
    ):
        pytest.skip("this text re-tokenizes differently")
    at = tiny_engine.next_tokens(before, params, k=10)
    recorded = cand.token_logprobs[i].top
    assert [c.token_id for c in at] == [c.token_id for c in recorded]
    for a, b in zip(at, recorded, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert a.sampled_logprob == pytest.approx(b.sampled_logprob, abs=1e-4)


def test_swap_and_continue_equals_generating_from_the_edited_text(tiny_engine) -> None:
    params = _params(temperature=0.9, top_k=30)
    cand = tiny_engine.generate(PROMPT, params, n=1, seed=5, logprobs=10)[0]
    i = 2
    alternative = next(
        c
        for c in cand.token_logprobs[i].top
        if c.token_id != cand.token_ids[i] and "\ufffd" not in c.text
    )
    edited = PROMPT + "".join(t.text for t in cand.token_logprobs[:i]) + alternative.text
    # the app's swap: a request from the edited text (prefix cache warm from the first)
    swapped = tiny_engine.generate(edited, params, n=2, seed=77, logprobs=10)
    tiny_engine.clear_cache()
    direct = tiny_engine.generate(edited, params, n=2, seed=77)
    assert [c.text for c in swapped] == [c.text for c in direct]


def test_logprobs_bounds_are_checked(tiny_engine) -> None:
    params = _params()
    with pytest.raises(WriterError, match="logprobs must be 0 to 20"):
        tiny_engine.generate(PROMPT, params, n=1, logprobs=21)
    with pytest.raises(WriterError, match="k must be 0 to 20"):
        tiny_engine.next_tokens(PROMPT, params, k=-1)
    cand = tiny_engine.generate(PROMPT, params, n=1, seed=1, logprobs=0)[0]
    assert cand.token_logprobs and all(t.top == () for t in cand.token_logprobs)


def test_the_transformers_back_end_reports_the_same(tiny_model_dir, reference) -> None:
    """Models off the fast path (transformers' forward) give the same token data."""
    from writer.engine.generate import Engine
    from writer.engine.gpt2.backends import TransformersBackend
    from writer.engine.models import load_model_and_tokenizer

    _, tokenizer, _ = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    fallback = Engine(reference, tokenizer)
    fallback.backend = TransformersBackend(reference)
    params = _params(temperature=0.8, top_k=10)
    choices = fallback.next_tokens(PROMPT, params, k=5)
    expected = torch.log_softmax(_logits(reference, _prompt_ids(fallback, PROMPT)), -1)
    top_lp, top_ids = expected.topk(5)
    assert [c.token_id for c in choices] == top_ids.tolist()
    assert [c.logprob for c in choices] == pytest.approx(top_lp.tolist(), abs=1e-4)
    cand = fallback.generate(PROMPT, params, n=1, seed=2, logprobs=3)[0]
    assert len(cand.token_logprobs) == cand.tokens
    assert cand.token_logprobs[0].top[0].token_id == top_ids[0]
