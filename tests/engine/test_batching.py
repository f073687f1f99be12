"""Continuous batching (writer.engine.batching) on the tiny model: requests in flight share
decode steps and each gets the candidates it gets alone."""

from __future__ import annotations

import threading

import pytest

from writer.engine.batching import BatchScheduler
from writer.engine.gpt2.quant import int8_available
from writer.engine.loading import load_engine
from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
from writer.errors import WriterError
from writer.presets import SamplingParams

SAMPLED = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, stop="none")
# Prompts of different lengths (framed for the tiny model's 128-token window, each is short:
# the long prompts are given as token ids).
PROMPTS = [
    "The ship sailed north for three days. The wind rose over the grey water. " * 4,
    "Once upon a time",
    "She said that the house was",
]


def _finished(events) -> GenerationDone:
    done = [e for e in events if isinstance(e, GenerationDone)]
    assert len(done) == 1
    return done[0]


def _together(scheduler: BatchScheduler, requests: list[dict]) -> list[GenerationDone]:
    """Submit every request while the engine is busy, so they all join the same steps."""
    with scheduler.engine._lock:
        handles = [scheduler.submit(**request) for request in requests]
    return [_finished(h) for h in handles]


@pytest.mark.parametrize(
    "precision",
    ["fp32", pytest.param("int8", marks=pytest.mark.skipif(not int8_available(), reason="int8"))],
)
def test_a_request_gets_the_same_candidates_alone_and_batched(tiny_model_dir, precision) -> None:
    engine = load_engine(str(tiny_model_dir), device="cpu", precision=precision)
    long = engine.tokenizer.encode(PROMPTS[0])[:100]  # several pieces; two int8 chunks
    requests = [
        {"prompt": "", "prompt_ids": long, "params": SAMPLED, "n": 3, "seed": 11, "logprobs": 2},
        {"prompt": PROMPTS[0], "params": SAMPLED, "n": 2, "seed": 3},
        {"prompt": PROMPTS[1], "params": SAMPLED.replace(stop=("the",)), "n": 2, "seed": 5},
        {"prompt": PROMPTS[2], "params": SAMPLED.replace(max_new_tokens=7), "n": 4, "seed": 9},
        {"prompt": PROMPTS[1], "params": SAMPLED.replace(temperature=0.0), "n": 2, "seed": 1},
    ]
    alone = []
    for request in requests:
        engine.clear_cache()
        alone.append(engine.generate(**request))
    scheduler = BatchScheduler(engine, piece=16)
    together = _together(scheduler, requests)
    scheduler.close()
    for one, batched in zip(alone, together, strict=True):
        if precision == "int8":  # bit for bit (GPT2Runner.chunk)
            assert batched.candidates == one
        else:  # the prompt in pieces may move a last bit of a probability, never a token
            assert [(c.text, c.token_ids) for c in batched.candidates] == [
                (c.text, c.token_ids) for c in one
            ]
            for a, b in zip(batched.candidates, one, strict=True):
                assert a.logprob == pytest.approx(b.logprob, abs=1e-5)
    assert scheduler.stats()["widest_step"] >= 3  # really decoded together
    assert scheduler.stats()["requests"] == 5 and scheduler.stats()["running"] == 0


def test_phrase_bans_roll_back_inside_a_batch_as_alone(tiny_engine) -> None:
    """A banned phrase rolls its row back (its KV rows rewound) while other requests' rows go
    on: the banning request's candidates are those it gets alone, and never hold the phrase."""
    banned = SAMPLED.replace(ban=("the", "a"), max_new_tokens=24)
    requests = [
        {"prompt": PROMPTS[1], "params": banned, "n": 3, "seed": 21},
        {"prompt": PROMPTS[2], "params": SAMPLED, "n": 2, "seed": 4},
    ]
    alone = [tiny_engine.generate(**r) for r in requests]
    scheduler = BatchScheduler(tiny_engine, piece=8)
    together = _together(scheduler, requests)
    scheduler.close()

    def tokens(candidates):
        return [(c.text, c.token_ids, c.finish_reason) for c in candidates]

    assert [tokens(d.candidates) for d in together] == [tokens(a) for a in alone]
    assert together[0].stats.rollbacks > 0
    for cand in together[0].candidates:
        assert " the " not in f" {cand.text.lower()} "


def test_events_stream_per_request_and_join_to_the_final_text(tiny_engine) -> None:
    scheduler = BatchScheduler(tiny_engine, piece=16)
    with tiny_engine._lock:
        handles = [scheduler.submit(p, SAMPLED, 2, seed=3) for p in PROMPTS]
    for handle in handles:
        events = list(handle)
        done = events[-1]
        assert isinstance(done, GenerationDone)
        for cand in done.candidates:
            streamed = "".join(
                e.text for e in events if isinstance(e, TokenDelta) and e.index == cand.index
            )
            assert streamed == cand.text
        assert sum(isinstance(e, CandidateDone) for e in events) == 2
    scheduler.close()


def test_closing_one_request_cancels_it_and_the_others_finish(tiny_engine) -> None:
    long = SAMPLED.replace(max_new_tokens=100)
    scheduler = BatchScheduler(tiny_engine)
    with tiny_engine._lock:
        leaving = scheduler.submit(PROMPTS[1], long, 2, seed=1)
        staying = scheduler.submit(PROMPTS[2], long, 2, seed=2)
    first = next(iter(leaving))
    assert isinstance(first, TokenDelta)
    leaving.close()
    gone = _finished(leaving)
    assert gone.cancelled
    kept = _finished(staying)
    assert not kept.cancelled
    assert all(c.finish_reason != "cancelled" for c in kept.candidates)
    scheduler.close()


def test_a_cancel_signal_and_a_bad_request(tiny_engine) -> None:
    scheduler = BatchScheduler(tiny_engine)
    with pytest.raises(WriterError, match="min_tokens"):
        scheduler.submit(PROMPTS[1], SAMPLED, 1, min_tokens=-1)
    with pytest.raises(WriterError):
        scheduler.submit(PROMPTS[1], SAMPLED, 0)
    done = _finished(scheduler.submit(PROMPTS[1], SAMPLED, 1, cancel=lambda: True))
    assert done.cancelled
    scheduler.close()


def test_min_tokens_holds_back_the_end_of_text(tiny_engine) -> None:
    """`min_tokens` (vLLM's; `ignore_eos` is min_tokens = max_tokens): no candidate ends on
    the end-of-text token before it."""
    params = SAMPLED.replace(max_new_tokens=12)
    scheduler = BatchScheduler(tiny_engine)
    done = _finished(scheduler.submit(PROMPTS[2], params, 8, seed=0, min_tokens=12))
    scheduler.close()
    assert all(c.finish_reason == "length" and c.tokens == 12 for c in done.candidates)
    assert tiny_engine.generate(PROMPTS[2], params, n=8, seed=0, min_tokens=12) == done.candidates


def test_a_long_prompt_is_computed_in_pieces_while_others_decode(tiny_engine) -> None:
    """The long prompt (100 tokens) is computed 8 tokens a round, so the short request,
    submitted after it, streams its first tokens before the long one has its first."""
    arrivals: list[tuple[str, object]] = []
    ended = threading.Semaphore(0)

    def sink(who: str):
        def take(event: object) -> None:
            arrivals.append((who, event))
            if event is None:
                ended.release()

        return take

    scheduler = BatchScheduler(tiny_engine, piece=8)
    params = SAMPLED.replace(max_new_tokens=6)
    tiny_engine.clear_cache()
    with tiny_engine._lock:
        long = tiny_engine.tokenizer.encode(PROMPTS[0])[:100]
        scheduler.submit("", params, 1, seed=1, prompt_ids=long, sink=sink("long"))
        scheduler.submit(PROMPTS[1], params, 1, seed=2, sink=sink("short"))
    assert ended.acquire(timeout=60) and ended.acquire(timeout=60)
    scheduler.close()
    firsts = [who for who, e in arrivals if isinstance(e, TokenDelta)]
    assert firsts[0] == "short" and "long" in firsts
    assert [e for _, e in arrivals if isinstance(e, Exception)] == []


def test_a_newcomer_starts_before_a_client_that_queued_many(tiny_model_dir) -> None:
    """Waiting requests start by client, fewest running first: a newcomer waits for the next
    free place, not for every request another client queued before it."""
    engine = load_engine(str(tiny_model_dir), device="cpu")
    scheduler = BatchScheduler(engine, max_running=1)
    params = SAMPLED.replace(max_new_tokens=3)
    finished: list[str] = []
    lock = threading.Lock()

    def sink_for(label: str):
        def sink(item) -> None:
            if item is None:
                with lock:
                    finished.append(label)

        return sink

    with engine._lock:  # all queued before the first one starts
        for i in range(6):
            scheduler.submit(
                "Once upon a time", params, 1, seed=i, client="hog", sink=sink_for(f"hog-{i}")
            )
        scheduler.submit("Once upon a time", params, 1, seed=9, client="new", sink=sink_for("new"))
    deadline = threading.Event()
    for _ in range(600):
        with lock:
            if len(finished) == 7:
                break
        deadline.wait(0.05)
    scheduler.close()
    assert finished.index("new") <= 1, finished  # after at most the hog's first request
