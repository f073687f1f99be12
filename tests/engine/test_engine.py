"""Engine behaviour on the tiny model: exactness, determinism, streaming, stops, limits."""

from __future__ import annotations

import gc
import threading

import pytest
import torch

from writer.engine.generate import Engine
from writer.engine.gpt2.backends import TransformersBackend
from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
from writer.errors import WriterError
from writer.presets import SamplingParams

GREEDY = SamplingParams(
    temperature=0, top_k=0, top_p=1.0, repetition_penalty=1.0, max_new_tokens=24
)
PROMPTS = ["Once upon a time", "The ship sailed north for three days.", "She opened the door"]


@pytest.fixture(scope="module")
def hf_model(tiny_model_dir):
    """The tiny model as a plain transformers model: the reference the engine must match."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()


def reference_greedy(engine: Engine, prompt: str, params: SamplingParams, model) -> list[int]:
    """The new token ids of `model.generate(do_sample=False)`, up to end-of-text."""
    ids = (
        engine.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if prompt
        else [engine.eos_token_id]
    )
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]),
            do_sample=False,
            max_new_tokens=params.max_new_tokens,
            repetition_penalty=params.repetition_penalty,
            pad_token_id=engine.eos_token_id,
            eos_token_id=engine.eos_token_id,
        )
    new = [t for t in out[0, len(ids) :].tolist()]
    if engine.eos_token_id in new:
        new = new[: new.index(engine.eos_token_id)]
    return new


@pytest.mark.parametrize("prompt", PROMPTS + [""])
def test_greedy_equals_model_generate(tiny_engine: Engine, prompt: str, hf_model) -> None:
    tiny_engine.clear_cache()
    got = list(tiny_engine.generate(prompt, GREEDY, n=1)[0].token_ids)
    assert got == reference_greedy(tiny_engine, prompt, GREEDY, hf_model)


def test_greedy_with_repetition_penalty_equals_model_generate(tiny_engine, hf_model) -> None:
    params = GREEDY.replace(repetition_penalty=1.3)
    for prompt in PROMPTS:
        assert list(tiny_engine.generate(prompt, params)[0].token_ids) == reference_greedy(
            tiny_engine, prompt, params, hf_model
        )


def test_every_back_end_matches(tiny_model_dir, tiny_engine, hf_model) -> None:
    """The checkpoint-loaded engine, an engine over a transformers model (packed and not) and
    transformers' own forward (the fallback back end) give the same candidates."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sampled = SamplingParams(temperature=0.9, top_k=40, top_p=0.95, max_new_tokens=12)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    expected = [c.token_ids for c in tiny_engine.generate(PROMPTS[1], sampled, n=3, seed=5)]
    owned = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    engines = [
        Engine(hf_model, tokenizer),  # caller's model: left untouched, plain products
        Engine(owned, tokenizer, owns_model=True),  # packed weights swapped into the model
    ]
    fallback = Engine(hf_model, tokenizer)
    fallback.backend = TransformersBackend(hf_model)
    engines.append(fallback)
    for engine in engines:
        got = [c.token_ids for c in engine.generate(PROMPTS[1], sampled, n=3, seed=5)]
        assert got == expected
    # The owned model still works as a transformers model after its weights were repacked.
    ids = torch.tensor([tokenizer(PROMPTS[0])["input_ids"]])
    with torch.inference_mode():
        torch.testing.assert_close(owned(ids).logits, hf_model(ids).logits, rtol=1e-4, atol=1e-4)


def test_fast_runner_logits_match_transformers(tiny_engine: Engine, hf_model) -> None:
    runner = tiny_engine.backend.runner
    ids = tiny_engine.tokenizer(PROMPTS[1])["input_ids"]
    with torch.inference_mode():
        ref = hf_model(torch.tensor([ids])).logits[0]
    everything, _ = runner.prefill(torch.tensor(ids), None, all_logits=True)
    torch.testing.assert_close(everything, ref, rtol=1e-4, atol=1e-4)
    logits, kv = runner.prefill(torch.tensor(ids[:-3]), None)
    torch.testing.assert_close(logits, ref[-4], rtol=1e-4, atol=1e-4)
    logits, kv = runner.prefill(torch.tensor(ids[-3:]), kv)  # continuing from a cached prefix
    torch.testing.assert_close(logits, ref[-1], rtol=1e-4, atol=1e-4)
    suffix = runner.new_suffix(2, 4)
    step = runner.decode(torch.tensor([ids[-1], ids[-1]]), kv.cropped(len(ids) - 1), suffix)
    torch.testing.assert_close(step[0], ref[-1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(step[1], ref[-1], rtol=1e-4, atol=1e-4)


def test_same_seed_same_candidates_and_seed_reproduces_one(tiny_engine: Engine) -> None:
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16)
    first = tiny_engine.generate(PROMPTS[0], params, n=3, seed=42)
    again = tiny_engine.generate(PROMPTS[0], params, n=3, seed=42)
    assert first == again
    assert [c.seed for c in first] == [42, 43, 44]
    assert len({c.text for c in first}) > 1
    alone = tiny_engine.generate(PROMPTS[0], params, n=1, seed=first[2].seed)[0]
    assert alone.text == first[2].text
    other = tiny_engine.generate(PROMPTS[0], params, n=3, seed=7)
    assert [c.text for c in other] != [c.text for c in first]


def test_top_k_one_equals_greedy(tiny_engine: Engine) -> None:
    params = SamplingParams(
        temperature=0.8, top_k=1, top_p=1.0, repetition_penalty=1.0, max_new_tokens=24
    )
    for prompt in PROMPTS:
        greedy = tiny_engine.generate(prompt, GREEDY, n=1)[0].text
        assert [c.text for c in tiny_engine.generate(prompt, params, n=3, seed=3)] == [greedy] * 3


def test_candidate_fields_and_stream_deltas_add_up(tiny_engine: Engine) -> None:
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20)
    texts = {0: "", 1: ""}
    events = list(tiny_engine.stream(PROMPTS[2], params, n=2, seed=11))
    assert isinstance(events[0], TokenDelta)  # the first event is the first token
    assert isinstance(events[-1], GenerationDone)
    for event in events:
        if isinstance(event, TokenDelta):
            texts[event.index] += event.text
    done = events[-1]
    assert [texts[0], texts[1]] == [c.text for c in done.candidates]
    for c in done.candidates:
        assert c.finish_reason in ("length", "eos")
        assert 1 <= c.tokens <= 20 and c.logprob < 0
    assert done.stats.prompt_tokens > 0 and done.stats.new_tokens >= 2
    assert sum(isinstance(e, CandidateDone) for e in events) == 2


def test_cancel_takes_effect_within_one_token(tiny_engine: Engine) -> None:
    cancel = threading.Event()
    params = SamplingParams(temperature=1.0, top_k=0, max_new_tokens=100, stop="none")
    steps_after_cancel = 0
    done = None
    for event in tiny_engine.stream(PROMPTS[0], params, n=3, seed=1, cancel=cancel):
        if isinstance(event, TokenDelta):
            if cancel.is_set():
                steps_after_cancel += 1
            cancel.set()
        if isinstance(event, GenerationDone):
            done = event
    assert done is not None and done.cancelled
    # The step in flight may finish (its other candidates' deltas), nothing after it.
    assert steps_after_cancel <= 2
    assert all(c.finish_reason == "cancelled" for c in done.candidates)
    assert all(c.tokens <= 1 for c in done.candidates)


def test_closing_the_stream_stops_generation(tiny_engine: Engine) -> None:
    params = SamplingParams(temperature=1.0, max_new_tokens=100)
    stream = tiny_engine.stream(PROMPTS[0], params, n=2, seed=1)
    next(stream)
    stream.close()
    # The engine is free again (its lock was released) and still works.
    assert len(tiny_engine.generate(PROMPTS[0], params.replace(max_new_tokens=3), n=1)) == 1


def test_custom_stop_text_is_cut_and_candidates_stop_on_their_own(tiny_engine: Engine) -> None:
    params = SamplingParams(temperature=1.0, top_k=0, max_new_tokens=60, stop="e")
    cands = tiny_engine.generate(PROMPTS[0], params, n=4, seed=2)
    assert any(c.finish_reason == "stop" for c in cands)
    for c in cands:
        assert "e" not in c.text
    # Each stops on its own: different lengths.
    assert len({c.tokens for c in cands}) > 1


def test_sentence_and_paragraph_stops(tiny_engine: Engine) -> None:
    for stop in ("sentence", "paragraph"):
        params = SamplingParams(temperature=1.2, top_k=0, max_new_tokens=80, stop=stop)
        for c in tiny_engine.generate("The old woman", params, n=4, seed=9):
            body = c.text.lstrip()
            assert "\n" not in body
            if c.finish_reason == "stop" and stop == "sentence" and body:
                assert body.rstrip("\"'”’)]")[-1] in ".!?…"


def test_prompt_longer_than_context_keeps_recent_tokens(tiny_engine: Engine) -> None:
    long_story = " ".join(["The fox walked to the river."] * 200) + " At last the fox"
    params = GREEDY.replace(max_new_tokens=20)
    done = list(tiny_engine.stream(long_story, params, n=1))[-1]
    assert done.stats.prompt_tokens <= tiny_engine.context_size - 20
    assert done.candidates[0].tokens >= 1
    # The kept tokens are the story's end: the result equals generating from that end alone.
    ids = tiny_engine.tokenizer(long_story, add_special_tokens=False)["input_ids"]
    tail = tiny_engine.tokenizer.decode(ids[-done.stats.prompt_tokens :])
    tiny_engine.clear_cache()
    assert tiny_engine.generate(tail, params)[0].text == done.candidates[0].text


def test_prefix_cache_reuse_gives_the_same_result_as_cold(tiny_engine: Engine) -> None:
    story = "Once upon a time there was a small fox who lived at the edge of a dark forest."
    params = SamplingParams(temperature=0.9, top_k=50, max_new_tokens=16)
    tiny_engine.clear_cache()
    list(tiny_engine.stream(story, params, n=3, seed=4))
    warm = list(tiny_engine.stream(story + " Every morning", params, n=3, seed=4))[-1]
    assert warm.stats.reused_tokens > 10
    tiny_engine.clear_cache()
    cold = list(tiny_engine.stream(story + " Every morning", params, n=3, seed=4))[-1]
    assert cold.stats.reused_tokens == 0
    assert [c.text for c in warm.candidates] == [c.text for c in cold.candidates]
    # Regenerating the same prompt reuses all of it.
    again = list(tiny_engine.stream(story + " Every morning", params, n=3, seed=4))[-1]
    assert again.stats.reused_tokens == again.stats.prompt_tokens


def test_ideas_mode_gives_one_line_ideas(tiny_engine: Engine) -> None:
    params = SamplingParams(temperature=1.0, max_new_tokens=30)
    cands = tiny_engine.generate(
        "The detective lit a cigarette.", params, n=3, mode="ideas", seed=1
    )
    assert len(cands) == 3
    for c in cands:
        assert "\n" not in c.text
        assert c.text == c.text.strip()  # tidied: no surrounding space
        assert not c.text.startswith(("1.", "2.", "-"))  # nor a list marker


def _first_tokens(engine: Engine, params: SamplingParams, draws: int = 96) -> list[int]:
    """The first sampled token id of `draws` candidates (end-of-text counts as itself)."""
    tokens: list[int] = []
    for seed in range(0, draws, 16):
        for c in engine.generate(PROMPTS[0], params, n=16, seed=seed * 1000):
            tokens.append(c.token_ids[0] if c.token_ids else engine.eos_token_id)
    return tokens


def test_temperature_top_k_top_p_change_the_distribution(tiny_engine: Engine) -> None:
    # The tiny random model's next-token distribution is nearly flat (logit std ~0.1), so each
    # setting shows clearly in how many different first tokens 96 draws produce.
    one = dict(max_new_tokens=1, repetition_penalty=1.0, stop="none")
    greedy = tiny_engine.generate(PROMPTS[0], GREEDY.replace(max_new_tokens=1))[0].token_ids[0]
    hot = _first_tokens(tiny_engine, SamplingParams(temperature=2.0, top_k=0, **one))
    cold = _first_tokens(tiny_engine, SamplingParams(temperature=0.02, top_k=0, **one))
    topk = _first_tokens(tiny_engine, SamplingParams(temperature=2.0, top_k=3, **one))
    topp = _first_tokens(tiny_engine, SamplingParams(temperature=2.0, top_k=0, top_p=0.05, **one))
    assert len(set(hot)) > 50  # a flat distribution spreads over many tokens
    assert cold.count(greedy) > 0.6 * len(cold)  # a low temperature concentrates on the argmax
    assert hot.count(greedy) < 0.1 * len(hot)
    assert len(set(topk)) <= 3 and greedy in topk
    assert len(set(topk)) == 3  # and samples among all three
    assert 1 < len(set(topp)) < len(set(hot)) / 3


def test_bad_requests_raise_one_line_errors(tiny_engine: Engine) -> None:
    with pytest.raises(WriterError, match="mode"):
        tiny_engine.generate("x", GREEDY, mode="poem")
    with pytest.raises(WriterError, match="candidates"):
        tiny_engine.generate("x", GREEDY, n=0)


def test_memory_does_not_grow_over_100_requests(tiny_engine: Engine) -> None:
    params = SamplingParams(temperature=1.0, max_new_tokens=8)
    story = "The ship sailed north."

    def live_tensors() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) in (torch.Tensor, torch.nn.Parameter))

    for i in range(5):
        tiny_engine.generate(story + " x" * i, params, n=3, seed=i)
    before = live_tensors()
    for i in range(100):
        story += " The wind rose." if i % 3 else ""
        tiny_engine.generate(story, params, n=3, seed=i)
        info = tiny_engine.cache_info()
        assert info["entries"] <= 1 and info["tokens"] <= tiny_engine.context_size
    assert live_tensors() <= before + 5


def test_top_k_top_p_warper_equals_transformers_pair() -> None:
    from transformers import LogitsProcessorList, TopKLogitsWarper, TopPLogitsWarper

    from writer.engine.sampling.processors import TopKTopPLogitsWarper

    torch.manual_seed(0)
    ids = torch.randint(0, 400, (4, 30))
    for k, p in [(100, 0.92), (5, 0.5), (1, 0.9), (500, 0.99), (50, 0.01)]:
        scores = torch.randn(4, 400) * 3
        expected = LogitsProcessorList([TopKLogitsWarper(k), TopPLogitsWarper(p)])(ids, scores)
        assert torch.equal(TopKTopPLogitsWarper(k, p)(ids, scores.clone()), expected)


def test_processor_tensors_live_on_the_model_device() -> None:
    """Ideas mode on CUDA: torch.isin failed (eos ids created on the CPU)."""
    import torch

    from writer.engine.sampling.processors import build_processors

    params = SamplingParams(repetition_penalty=1.2, no_repeat_ngram_size=2)
    processors = build_processors(
        params, prompt_length=4, min_new_tokens=3, eos_token_id=0, device="meta"
    )
    tensors = [
        value
        for processor in processors
        for value in vars(processor).values()
        if isinstance(value, torch.Tensor)
    ]
    assert tensors, "expected the min-new-tokens processor to hold its eos ids"
    assert {t.device.type for t in tensors} == {"meta"}
    scores = processors(
        torch.zeros((2, 5), dtype=torch.long, device="meta"), torch.zeros((2, 9), device="meta")
    )
    assert scores.device.type == "meta"
