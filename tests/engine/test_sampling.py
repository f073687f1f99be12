"""The steering samplers on the tiny model: DRY, phrase bans and bias, min-p, typical-p, ranges.

A randomly initialised tiny GPT-2 never loops (its next-token distribution is nearly flat), so
the loop tests use the same model trained for a few seconds on the test corpus: it then repeats
the corpus' sentences, as GPT-2 small does, and "The old woman in the water." comes back again
and again.
"""

from __future__ import annotations

import pytest
import torch
from transformers import MinPLogitsWarper, TypicalLogitsWarper

from writer.engine.generate import Engine
from writer.engine.gpt2.backends import TransformersBackend
from writer.engine.sampling.phrases import BanMatcher
from writer.engine.sampling.processors import (
    DRYLogitsProcessor,
    RepetitionRangeLogitsProcessor,
    build_processors,
)
from writer.engine.sampling.tokentable import token_table
from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
from writer.presets import SamplingParams

LOOPING = "Every morning the fox walked to the river and looked at the water. " * 4
SAMPLED = SamplingParams(
    temperature=0.7, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=60
)


@pytest.fixture(scope="module")
def looping_engine(tiny_model_dir):
    """The tiny model after 300 steps on the corpus: it loops on a repeated sentence."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.conftest import CORPUS

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    ids = torch.tensor(tokenizer(CORPUS * 8)["input_ids"])
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(300):
        starts = torch.randint(0, len(ids) - 65, (8,), generator=gen)
        batch = torch.stack([ids[s : s + 64] for s in starts.tolist()])
        loss = model(batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return Engine(model, tokenizer)


def repeated_4gram_rate(ids: tuple[int, ...]) -> float:
    grams = [tuple(ids[i : i + 4]) for i in range(len(ids) - 3)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def candidates(engine: Engine, prompt: str, params: SamplingParams, count: int, n: int = 16):
    return [
        c
        for seed in range(0, count, n)
        for c in engine.generate(prompt, params, n=min(n, count - seed), seed=seed)
    ]


# -- DRY ------------------------------------------------------------------------------------


def reference_dry(ids: list[int], scores: torch.Tensor, mult, base, allowed, breakers) -> None:
    """text-generation-webui's DRY, line for line (one row), applied in place."""
    last = ids[-1]
    if last in breakers:
        return
    lengths: dict[int, int] = {}
    for i in [i for i, x in enumerate(ids[:-1]) if x == last]:
        nxt = ids[i + 1]
        if nxt in breakers:
            continue
        length = 1
        while True:
            j = i - length
            if j < 0:
                break
            previous = ids[-(length + 1)]
            if ids[j] != previous or previous in breakers:
                break
            length += 1
        lengths[nxt] = max(length, lengths.get(nxt, 0))
    for token, length in lengths.items():
        if length >= allowed:
            scores[token] -= mult * base ** (length - allowed)


def test_dry_equals_the_published_algorithm() -> None:
    gen = torch.Generator().manual_seed(3)
    vocab = 12
    breakers = {0, 5}
    mask = torch.zeros(vocab, dtype=torch.bool)
    mask[list(breakers)] = True
    dry = DRYLogitsProcessor(0.8, 1.75, 2, mask)
    checked = 0
    for _ in range(200):
        # Short random texts over a small vocabulary, with a repeated chunk: many matches.
        chunk = torch.randint(0, vocab, (6,), generator=gen).tolist()
        noise = torch.randint(0, vocab, (10,), generator=gen).tolist()
        rows = [noise + chunk + noise[:3] + chunk[:4], chunk * 3, noise + chunk[::-1]]
        width = min(len(r) for r in rows)
        ids = torch.tensor([r[-width:] for r in rows])
        scores = torch.randn(3, vocab, generator=gen)
        expected = scores.clone()
        for row in range(3):
            reference_dry(ids[row].tolist(), expected[row], 0.8, 1.75, 2, breakers)
        got = dry(ids, scores.clone())
        torch.testing.assert_close(got, expected)
        checked += int((got != scores).any())
    assert checked > 100  # the penalty really fired in most cases


def test_dry_range_only_looks_at_recent_tokens() -> None:
    mask = torch.zeros(10, dtype=torch.bool)
    ids = torch.tensor([[1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 7, 1, 2, 3]])
    scores = torch.zeros(1, 10)
    # The whole text: "1 2 3" was followed by 4, so 4 is penalised (match length 3).
    assert DRYLogitsProcessor(1.0, 2.0, 2, mask)(ids, scores)[0, 4] == -2.0
    # The last 8 tokens only: the earlier "1 2 3 4" is out of range.
    assert DRYLogitsProcessor(1.0, 2.0, 2, mask, last_n=8)(ids, scores)[0, 4] == 0.0


def test_dry_cuts_repeated_4grams_on_a_looping_prompt(looping_engine: Engine) -> None:
    """The evidence for issue 11: 20 seeded candidates each way on a prompt that loops."""
    without = candidates(looping_engine, LOOPING, SAMPLED, 20, n=4)
    with_dry = candidates(looping_engine, LOOPING, SAMPLED.replace(dry_multiplier=0.8), 20, n=4)
    rate_without = sum(repeated_4gram_rate(c.token_ids) for c in without) / 20
    rate_with = sum(repeated_4gram_rate(c.token_ids) for c in with_dry) / 20
    assert rate_without > 0.4  # the model does loop
    assert rate_with < rate_without / 2, (rate_with, rate_without)


# -- phrase bans -------------------------------------------------------------------------------

BANNED = ("old woman", "The water")


def test_banned_phrases_never_appear_in_200_candidates(looping_engine: Engine) -> None:
    params = SAMPLED.replace(max_new_tokens=40)
    free = candidates(looping_engine, LOOPING, params, 48)
    hits = sum(any(b.lower() in c.text.lower() for b in BANNED) for c in free)
    assert hits > len(free) // 2  # built to produce them

    banned = params.replace(ban=BANNED)
    rollbacks = 0
    texts: list[str] = []
    for seed in range(0, 200, 16):
        streamed: dict[int, str] = {}
        for event in looping_engine.stream(LOOPING, banned, n=16, seed=seed):
            if isinstance(event, TokenDelta):
                streamed[event.index] = streamed.get(event.index, "") + event.text
            elif isinstance(event, CandidateDone):
                # Backtracking never takes back text that was already streamed.
                assert streamed.get(event.index, "") == event.candidate.text
            elif isinstance(event, GenerationDone):
                rollbacks += event.stats.rollbacks
                texts += [c.text for c in event.candidates]
    assert len(texts) == 208
    for text in texts:
        # The prompt ends with "the water. ": a phrase may not end in the candidate either.
        lowered = ("the water. " + text).lower()
        assert "old woman" not in lowered
        assert "the water" not in lowered[5:], text
    assert rollbacks > 0  # enforced by backtracking, not only by masking


def test_bans_hold_on_the_fallback_back_end_and_seeds_reproduce(looping_engine: Engine) -> None:
    params = SAMPLED.replace(max_new_tokens=30, ban=BANNED)
    fallback = Engine(looping_engine.model, looping_engine.tokenizer)
    fallback.backend = TransformersBackend(looping_engine.model)  # no rewind: masking only
    for c in candidates(fallback, LOOPING, params, 32):
        assert not any(b.lower() in c.text.lower() for b in BANNED)
    together = looping_engine.generate(LOOPING, params, n=4, seed=11)
    alone = looping_engine.generate(LOOPING, params, n=1, seed=together[3].seed)[0]
    assert alone.text == together[3].text


def test_ban_matcher_sees_a_phrase_in_any_tokenization(tiny_engine: Engine) -> None:
    tok = tiny_engine.tokenizer
    table = token_table(tok, len(tok))
    matcher = BanMatcher(table, ("Lighthouse keeper",))
    # However the text was split into tokens, completing the phrase is found, ignoring case.
    assert matcher.completed(b"the lighthouse kee", b"per") == 4
    assert matcher.completed(b"the light", b"house") is None
    # A phrase already in the text before (the prompt, say) is not completed again.
    assert BanMatcher(table, ("sea", "old lighthouse")).completed(b"to the sea", b".") is None
    assert BanMatcher(table, ("sea", "old lighthouse")).completed(b"to the se", b"a.") == 7
    assert matcher.pending(b"she saw the lighth") == len("lighth")
    # Every token that would complete it after "... lighthouse kee" is masked by the guard.
    ids = set(matcher.completing_tokens(b"lighthouse kee"))
    for token in range(len(tok)):
        text = table.lower[token]
        completes = (b"lighthouse kee" + text).find(b"lighthouse keeper") >= 0
        assert (token in ids) == completes, text


def test_ragged_rows_decode_like_a_fresh_prefill(tiny_engine: Engine) -> None:
    """After one row is rolled back, both rows' logits equal a plain forward of their text."""
    runner = tiny_engine.backend.runner
    prompt = tiny_engine.tokenizer("Once upon a time")["input_ids"]
    logits, kv = runner.prefill(torch.tensor(prompt), None)
    suffix = runner.new_suffix(2, 8)
    runner.decode(torch.tensor([5, 6]), kv, suffix)
    runner.decode(torch.tensor([7, 8]), kv, suffix)
    suffix.rewind(1, 1)  # row 1 forgets its second token and takes 20 there instead
    step = runner.decode(torch.tensor([9, 20]), kv, suffix)
    for row, tail in ((0, [5, 7, 9]), (1, [6, 20])):
        ref, _ = runner.prefill(torch.tensor(prompt + tail), None)
        torch.testing.assert_close(step[row], ref, rtol=1e-4, atol=1e-4)
    assert suffix.lengths == [3, 2]


# -- phrase bias ----------------------------------------------------------------------------


def test_phrase_bias_steers_towards_and_away_from_a_phrase(looping_engine: Engine) -> None:
    params = SAMPLED.replace(max_new_tokens=30)

    def rate(prompt: str, p: SamplingParams) -> float:
        found = candidates(looping_engine, prompt, p, 32)
        return sum("lighthouse keeper" in c.text.lower() for c in found) / len(found)

    away = "Once upon a time there was a small fox."
    assert rate(away, params) < 0.1
    assert rate(away, params.replace(bias=(("lighthouse keeper", 10.0),))) > 0.4
    towards = "She opened the door and saw the"
    assert rate(towards, params) > 0.4
    assert rate(towards, params.replace(bias=["lighthouse keeper=-10"])) < 0.1


# -- min-p, typical-p, repetition range, and nothing changed when off ---------------------------


def test_min_p_one_is_greedy_and_warpers_come_from_transformers(tiny_engine: Engine) -> None:
    greedy = SamplingParams(temperature=0, top_k=0, top_p=1.0, repetition_penalty=1.0)
    only_top = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0)
    expected = tiny_engine.generate("The ship sailed", greedy, n=1)[0].token_ids
    for c in tiny_engine.generate("The ship sailed", only_top.replace(min_p=1.0), n=3, seed=1):
        assert c.token_ids == expected
    processors = build_processors(only_top.replace(min_p=0.1, typical_p=0.9))
    assert [type(p) for p in processors] == [MinPLogitsWarper, TypicalLogitsWarper]


def test_new_samplers_off_build_the_same_processors_as_before() -> None:
    params = SamplingParams(repetition_penalty=1.2, min_p=0.0, typical_p=1.0, dry_multiplier=0)
    names = [type(p).__name__ for p in build_processors(params)]
    assert names == [
        "RepetitionPenaltyLogitsProcessor",
        "TemperatureLogitsWarper",
        "TopKTopPLogitsWarper",
    ]


def test_greedy_with_new_samplers_off_equals_model_generate(tiny_engine: Engine) -> None:
    from transformers import AutoModelForCausalLM

    from tests.engine.test_engine import reference_greedy

    model = AutoModelForCausalLM.from_pretrained(tiny_engine.name).eval()
    params = SamplingParams(
        temperature=0,
        top_k=0,
        top_p=1.0,
        repetition_penalty=1.3,
        max_new_tokens=24,
        min_p=0.0,
        typical_p=1.0,
        dry_multiplier=0.0,
        repetition_range=0,
        ban=(),
        bias=(),
    )
    for prompt in ("Once upon a time", "She opened the door"):
        got = list(tiny_engine.generate(prompt, params, n=1)[0].token_ids)
        assert got == reference_greedy(tiny_engine, prompt, params, model)


def test_repetition_range_penalises_only_the_last_tokens() -> None:
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    scores = torch.full((1, 8), 2.0)
    out = RepetitionRangeLogitsProcessor(2.0, 2)(ids, scores.clone())
    assert out[0].tolist() == [2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]


def test_min_p_and_typical_after_top_k_equal_transformers_chain() -> None:
    """Run on the top-k survivors only (no full-vocabulary sort), with the same result."""
    from transformers import LogitsProcessorList, TopKLogitsWarper, TopPLogitsWarper

    torch.manual_seed(0)
    ids = torch.randint(0, 400, (4, 30))
    for k, p, m, t in [(100, 1.0, 0.05, 1.0), (50, 0.9, 0.1, 0.9), (5, 1.0, 0.0, 0.5)]:
        scores = torch.randn(4, 400) * 3
        chain = [TopKLogitsWarper(k)]
        chain += [TopPLogitsWarper(p)] if p < 1 else []
        chain += [MinPLogitsWarper(m)] if m > 0 else []
        chain += [TypicalLogitsWarper(t)] if t < 1 else []
        expected = LogitsProcessorList(chain)(ids, scores.clone())
        params = SamplingParams(temperature=1.0, top_k=k, top_p=p, min_p=m, typical_p=t)
        processors = build_processors(params)
        assert len(processors) == 2  # repetition penalty, then one warper for all of them
        got = processors[1](ids, scores.clone())
        assert torch.equal(got, expected), (k, p, m, t)
