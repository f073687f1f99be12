"""CPU precisions (int8 weights) and the thread governor, on the tiny model."""

from __future__ import annotations

import gc
import threading

import pytest
import torch

from writer.engine.generate import Engine
from writer.engine.gpt2.backends import ThreadGovernor
from writer.engine.gpt2.quant import int8_available
from writer.engine.loading import auto_precision, load_engine
from writer.engine.types import GenerationDone, TokenDelta
from writer.errors import WriterError
from writer.presets import SamplingParams

needs_int8 = pytest.mark.skipif(not int8_available(), reason="no fbgemm int8 kernels here")
SAMPLED = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16, stop="none")


@pytest.fixture(scope="module")
def int8_engine(tiny_model_dir) -> Engine:
    return load_engine(str(tiny_model_dir), device="cpu", precision="int8")


@pytest.fixture(scope="module")
def fp32_engine(tiny_model_dir) -> Engine:
    return load_engine(str(tiny_model_dir), device="cpu", precision="fp32")


@needs_int8
def test_auto_on_cpu_is_int8_where_fbgemm_runs(tiny_model_dir) -> None:
    assert auto_precision("cpu") == "int8"
    engine = load_engine(str(tiny_model_dir), device="cpu")
    assert engine.precision == "int8" and engine.backend.runner.int8
    exact = load_engine(str(tiny_model_dir), device="cpu", precision="fp32")
    assert exact.precision == "fp32" and not exact.backend.runner.int8


@needs_int8
def test_int8_logits_stay_close_to_fp32(int8_engine: Engine, fp32_engine: Engine) -> None:
    ids = torch.tensor(fp32_engine.tokenizer.encode("The ship sailed north for three days."))
    a, _ = fp32_engine.backend.runner.prefill(ids, None, all_logits=True)
    b, _ = int8_engine.backend.runner.prefill(ids, None, all_logits=True)
    assert not torch.equal(a, b)  # really quantized
    kl = (a.log_softmax(-1).exp() * (a.log_softmax(-1) - b.log_softmax(-1))).sum(-1)
    assert float(kl.max()) < 0.01
    assert bool((a.argmax(-1) == b.argmax(-1)).all())


@needs_int8
def test_int8_decode_matches_its_own_prefill(int8_engine: Engine) -> None:
    """The cached-prefix decode path computes what a full prefill computes, in int8 too."""
    runner = int8_engine.backend.runner
    ids = int8_engine.tokenizer.encode("Once upon a time there was a fox")
    full, _ = runner.prefill(torch.tensor(ids), None, all_logits=True)
    _, kv = runner.prefill(torch.tensor(ids[:-1]), None)
    step = runner.decode(torch.tensor([ids[-1]]), kv, runner.new_suffix(1, 4))
    # One row quantized alone vs with the whole prompt: scales differ a little.
    assert int(step[0].argmax()) == int(full[-1].argmax())
    torch.testing.assert_close(step[0], full[-1], rtol=0.05, atol=0.05)


STORY = "The ship sailed north for three days. The wind rose over the grey water. " * 3


@needs_int8
def test_int8_prompt_numbers_do_not_depend_on_the_prefix_cache(int8_engine: Engine) -> None:
    """int8 rounds activations to 255 steps, so a last-bit difference (a prompt computed whole
    or partly from the cache) could change a sample: both ways must give the same bits."""
    backend = int8_engine.backend
    ids = int8_engine.tokenizer.encode(STORY + "She")
    backend.clear_cache()
    whole = backend.prompt_logits(ids)
    kv_whole = backend._kv
    for cached in (ids[:-3], ids[:70], ids[:5] + [0, 0]):  # typed after, mid-piece, a change
        backend.clear_cache()
        backend.prompt_logits(cached)
        assert torch.equal(backend.prompt_logits(ids), whole)
        assert all(torch.equal(a, b) for a, b in zip(backend._kv.keys, kv_whole.keys, strict=True))
    assert len(ids) > backend.runner.chunk  # the prompt spans two pieces


@needs_int8
def test_int8_candidate_rows_do_not_depend_on_their_neighbours(int8_engine: Engine) -> None:
    """A candidate computed alone gives the same bits as among 3 or 6 (`--seed S -n 1`)."""
    runner = int8_engine.backend.runner
    # A prompt of one piece, and one of two (its bf16 keys and values widened every step).
    story = int8_engine.tokenizer.encode(STORY)
    for ids in (story[:40], story):
        _, kv = runner.prefill(torch.tensor(ids), None)
        tokens = torch.tensor([11, 40, 7, 90, 3, 12])
        suffixes = {n: runner.new_suffix(n, 8) for n in (1, 3, 6)}
        for _ in range(4):  # several steps: the candidates' own keys and values count too
            alone = runner.decode(tokens[1:2], kv, suffixes[1])
            for n in (3, 6):
                assert torch.equal(runner.decode(tokens[:n], kv, suffixes[n])[1], alone[0])
    assert len(story) > runner.chunk


@needs_int8
def test_int8_seeds_reproduce_whatever_the_cache_held(int8_engine: Engine) -> None:
    params = SAMPLED.replace(max_new_tokens=24)
    int8_engine.clear_cache()
    fresh = int8_engine.generate(STORY + "She", params, n=3, seed=11)
    int8_engine.clear_cache()
    int8_engine.generate(STORY, params, n=2, seed=5)  # an earlier request fills the cache
    assert int8_engine.generate(STORY + "She", params, n=3, seed=11) == fresh
    alone = [int8_engine.generate(STORY + "She", params, n=1, seed=s)[0] for s in (11, 12, 13)]
    assert [c.text for c in alone] == [c.text for c in fresh]


@pytest.mark.parametrize("precision", ["fp32", pytest.param("int8", marks=needs_int8)])
def test_a_rolled_back_row_never_reads_unwritten_memory(
    tiny_model_dir, precision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a phrase-ban rollback, a row attends (with weight 0) to positions it never wrote:
    whatever memory held there (here NaN, as reused memory can) must not reach its numbers."""
    engine = load_engine(str(tiny_model_dir), device="cpu", precision=precision)
    runner = engine.backend.runner
    _, kv = runner.prefill(torch.tensor(engine.tokenizer.encode("Once upon a time")), None)

    def poisoned_empty(*args, **kwargs):
        return torch.full(args[0] if args else kwargs["size"], float("nan"), **kwargs)

    monkeypatch.setattr(torch, "empty", poisoned_empty)
    suffix = runner.new_suffix(2, 8)
    monkeypatch.undo()
    for token in (5, 6, 7):
        runner.decode(torch.tensor([token, token]), kv, suffix)
    suffix.rewind(1, 1)  # row 1 goes back to one token; row 0 keeps three
    logits = runner.decode(torch.tensor([8, 9]), kv, suffix)
    assert bool(torch.isfinite(logits).all())


@needs_int8
def test_int8_seeds_reproduce_and_stream_adds_up(int8_engine: Engine) -> None:
    first = int8_engine.generate("She opened the door", SAMPLED, n=3, seed=42)
    int8_engine.clear_cache()
    again = int8_engine.generate("She opened the door", SAMPLED, n=3, seed=42)
    assert first == again
    texts = {i: "" for i in range(3)}
    events = list(int8_engine.stream("She opened the door", SAMPLED, n=3, seed=42))
    for event in events:
        if isinstance(event, TokenDelta):
            texts[event.index] += event.text
    assert isinstance(events[-1], GenerationDone)
    assert [texts[i] for i in range(3)] == [c.text for c in first]
    assert events[-1].stats.reused_tokens > 0  # served from the prefix cache


@needs_int8
def test_int8_cancel_within_one_token_and_memory_flat(int8_engine: Engine) -> None:
    cancel = threading.Event()
    params = SAMPLED.replace(max_new_tokens=100)
    after = 0
    for event in int8_engine.stream("Once upon a time", params, n=3, seed=1, cancel=cancel):
        if isinstance(event, TokenDelta):
            after += cancel.is_set()
            cancel.set()
        if isinstance(event, GenerationDone):
            assert event.cancelled
    assert after <= 2

    def live_tensors() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is torch.Tensor)

    story = "The ship sailed north."
    for i in range(3):
        int8_engine.generate(story, SAMPLED.replace(max_new_tokens=8), n=3, seed=i)
    before = live_tensors()
    for i in range(100):
        story += " The wind rose." if i % 3 else ""
        int8_engine.generate(story, SAMPLED.replace(max_new_tokens=8), n=3, seed=i)
    assert live_tensors() <= before + 5


def test_int8_on_a_gpu_device_is_a_one_line_error(tiny_model_dir) -> None:
    with pytest.raises(WriterError) as err:
        load_engine(str(tiny_model_dir), device="cuda", precision="int8")
    assert "\n" not in str(err.value)


def test_int8_over_a_transformers_model_reports_its_precision(tiny_model_dir) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    owned = Engine(model, tokenizer, owns_model=True, precision="int8")
    assert owned.precision == ("int8" if int8_available() else "fp32")
    # A caller's model is never repacked: its engine runs it as it is, in fp32.
    other = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    assert Engine(other, tokenizer, precision="int8").precision == "fp32"
    with torch.inference_mode():  # the swapped-in int8 modules still serve model(...)
        out = model(torch.tensor([tokenizer.encode("Once upon a time")])).logits
    assert out.shape[-1] == model.config.vocab_size


class _Clock:
    """Feeds a ThreadGovernor step times as a machine would show them."""

    def __init__(self, governor: ThreadGovernor) -> None:
        self.g = governor
        self.step = 0
        self.threads_seen: list[int] = []

    def run(self, steps: int, seconds_for: dict[int, float]) -> None:
        for _ in range(steps):
            self.step += 1
            threads = self.g.before_step(4, self.step)
            self.threads_seen.append(threads)
            self.g.after_step(4, threads, seconds_for[threads])


def test_governor_keeps_all_threads_on_a_quiet_machine_and_drops_under_a_hog() -> None:
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        governor = ThreadGovernor(probe=None)  # by timing, as where /proc cannot be read
        clock = _Clock(governor)
        clock.run(40, {1: 0.030, 2: 0.018})  # quiet: two threads are faster
        assert clock.threads_seen.count(1) == 1  # only the one calibration step
        assert torch.get_num_threads() == 2 and governor.drops == 0
        clock.threads_seen.clear()
        clock.run(40, {1: 0.030, 2: 0.250})  # a hog took a core: two threads collapse
        assert clock.threads_seen[:2] == [2, 2] and clock.threads_seen[2:5] == [1, 1, 1]
        # Afterwards mostly one thread, with one probe of two every PROBE_EVERY steps.
        assert clock.threads_seen[2:].count(2) <= 40 // ThreadGovernor.PROBE_EVERY + 1
        clock.threads_seen.clear()
        clock.run(40, {1: 0.030, 2: 0.018})  # the hog ended: a probe finds two fast again
        assert clock.threads_seen[-10:] == [2] * 10
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


@needs_int8
def test_governor_times_whole_prompt_pieces_too(tiny_model_dir) -> None:
    """A long prompt is computed piece by piece in int8: when two whole pieces in a row with
    all threads are far slower than the fastest seen, the rest of the request runs with one."""
    engine = load_engine(str(tiny_model_dir), device="cpu", precision="int8", threads=2)
    backend = engine.backend
    governor = backend.governor = ThreadGovernor(probe=None)  # by timing
    ids = engine.tokenizer.encode(STORY * 3)[: 2 * backend.runner.chunk]
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        quiet = backend.prompt_logits(ids)
        assert governor.drops == 0 and torch.get_num_threads() == 2
        governor.best[(2, 0)] = 1e-9  # as if pieces had been far faster: now a starved pool
        backend.clear_cache()
        governor.begin()
        assert torch.equal(backend.prompt_logits(ids), quiet)
        assert governor.drops == 1 and torch.get_num_threads() == 1
        backend.end_request()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("precision", ["fp32", pytest.param("int8", marks=needs_int8)])
def test_thread_count_does_not_change_the_numbers(tiny_model_dir, precision: str) -> None:
    """The governor may switch threads mid-request: seeds must still reproduce exactly."""
    engine = load_engine(str(tiny_model_dir), device="cpu", precision=precision, threads=2)
    runner = engine.backend.runner
    ids = torch.tensor(engine.tokenizer.encode("The ship sailed north for three days."))
    saved = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            first, kv = runner.prefill(ids, None)
            step = runner.decode(torch.tensor([5, 6, 7]), kv, runner.new_suffix(3, 4))
            outs.append((first, step))
    finally:
        torch.set_num_threads(saved)
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
