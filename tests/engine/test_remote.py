"""writer's remote engine against a real `writer serve`: the CLI in a subprocess, the engine's
own faults (a server killed or stalled mid-stream, a wrong key, a bad URL)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import _isolated_env, run_writer
from tests.servers import ServeProcess, build_long_model
from writer.engine.remote.client import RemoteEngine
from writer.engine.remote.http import EstimateTokenizer, request_fields
from writer.engine.story.context import StoryContext, assemble_context
from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
from writer.errors import WriterError
from writer.presets import SamplingParams

KEY = "k-123456"


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    proc = ServeProcess(tiny_model_dir, _isolated_env(tmp_path_factory.mktemp("remote-home")))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def long_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_long_model(tiny_model_dir, tmp_path_factory.mktemp("long-model"))


@pytest.fixture
def long_server(long_model: Path, tmp_path: Path):
    proc = ServeProcess(long_model, _isolated_env(tmp_path / "long-home"))
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "extra",
    [
        ("--max-new-tokens", "10"),
        ("--stop", "paragraph", "--max-new-tokens", "50"),
        ("--mode", "ideas"),
    ],
)
def test_cli_generates_remotely_the_same_candidates_as_locally(
    server, isolated_user_dirs, tiny_model_dir, extra
):
    args = ("generate", "Once upon a time", "-n", "3", "--seed", "11", "--json", *extra)
    local = run_writer(*args, "--model", str(tiny_model_dir), env=isolated_user_dirs)
    remote = run_writer(*args, "--engine", server.url, env=isolated_user_dirs)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    ours, theirs = json.loads(local.stdout), json.loads(remote.stdout)
    assert theirs["candidates"] == ours["candidates"]  # texts, token counts, seeds, logprobs
    assert [c["seed"] for c in theirs["candidates"]] == [11, 12, 13]
    assert theirs["model"] == tiny_model_dir.name  # the server's only model, by its name


def test_story_context_fits_the_same_remotely(server, tiny_engine):
    remote = RemoteEngine(server.url)
    story = "The fox ran.\nShe saw the sea.\nThe ship sailed north.\nIt was cold " * 6
    context = StoryContext(memory="A story about a fox.", note="Make it dark.")
    ours = assemble_context(tiny_engine.tokenizer, story, context, 128, 20)
    theirs = assemble_context(remote.tokenizer, story, context, remote.context_size, 20)
    assert theirs.ids == ours.ids and theirs.breakdown == ours.breakdown
    done = list(remote.stream(story, SamplingParams(max_new_tokens=20), 2, 1, context=context))
    assert done[-1].context == ours.breakdown


def test_without_a_tokenizer_the_estimate_keeps_the_story_end():
    tokenizer = EstimateTokenizer()
    story = "word " * 400
    built = assemble_context(tokenizer, story, StoryContext(note="dark"), 128, 20)
    text = tokenizer.decode(built.ids)
    assert story.endswith(text[-40:]) and len(built.ids) <= 108


def test_batch_keeps_n_in_flight_writes_indexes_and_resumes(server, isolated_user_dirs, tmp_path):
    prompts = tmp_path / "p.jsonl"
    lines = [json.dumps(f"Prompt {i} the fox") for i in range(6)]
    prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    base = ("generate", "--prompts", str(prompts), "--engine", server.url, "-o", str(out))
    base += ("--max-new-tokens", "4", "-n", "1", "--seed", "5")
    first = run_writer(*base, "--concurrency", "4", env=isolated_user_dirs)
    assert first.returncode == 0, first.stderr
    results = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["index"] for r in results) == list(range(6))
    assert "prompts/s" in first.stderr and "tokens/s" in first.stderr
    # Interrupted: two whole results and a torn line are left; --resume does only the rest.
    kept = out.read_text(encoding="utf-8").splitlines()
    by_index = {json.loads(x)["index"]: x for x in kept}
    out.write_text(by_index[0] + "\n" + by_index[3] + "\n" + by_index[1][:30], encoding="utf-8")
    again = run_writer(*base, "--concurrency", "2", "--resume", env=isolated_user_dirs)
    assert again.returncode == 0, again.stderr
    assert "generated 4/6 prompts, 2 already done" in again.stderr
    final = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["index"] for r in final) == list(range(6))
    assert {r["index"]: r["candidates"] for r in final} == {
        r["index"]: r["candidates"] for r in results
    }


def test_resume_refuses_results_of_another_prompts_file(server, isolated_user_dirs, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"a"\n"b"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"index": 0, "prompt": "zzz"}) + "\n", encoding="utf-8")
    r = run_writer(
        "generate", "--prompts", str(prompts), "--engine", server.url, "-o", str(out),
        "--resume", env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "another prompts file" in r.stderr


@pytest.mark.parametrize(
    ("engine", "extra", "words"),
    [
        ("ftp://example", (), "server URL"),
        ("http://127.0.0.1:9", (), "cannot reach the server"),
        (None, ("--model", "nope"), "has no model 'nope'"),
    ],
)
def test_cli_errors_are_one_line(server, isolated_user_dirs, engine, extra, words):
    r = run_writer(
        "generate", "Once", "--engine", engine or server.url, *extra, env=isolated_user_dirs
    )
    assert r.returncode != 0
    assert r.stderr.startswith("writer: error:") and r.stderr.count("\n") == 1, r.stderr
    assert words in r.stderr


def test_wrong_key_is_one_line_and_the_right_one_from_the_environment_works(
    tiny_model_dir, tmp_path, isolated_user_dirs
):
    proc = ServeProcess(tiny_model_dir, _isolated_env(tmp_path / "k"), "--api-key", KEY)
    try:
        args = ("generate", "Once", "--engine", proc.url, "--max-new-tokens", "3", "--json")
        wrong = run_writer(*args, env={**isolated_user_dirs, "WRITER_API_KEY": "nope"})
        assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1
        assert "refused the API key" in wrong.stderr and "WRITER_API_KEY" in wrong.stderr
        right = run_writer(*args, env={**isolated_user_dirs, "WRITER_API_KEY": KEY})
        assert right.returncode == 0, right.stderr
    finally:
        proc.stop()


def test_config_engine_key_is_used_and_validated(server, isolated_user_dirs):
    config = Path(isolated_user_dirs["XDG_CONFIG_HOME"]) / "writer" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'engine = "{server.url}"\n', encoding="utf-8")
    r = run_writer("generate", "Once", "--max-new-tokens", "3", "--json", env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"] == server_model(server)
    config.write_text('engine = "localhost:8000"\n', encoding="utf-8")
    r = run_writer("generate", "Once", env=isolated_user_dirs)
    assert r.returncode == 1 and "engine must be" in r.stderr and r.stderr.count("\n") == 1


def server_model(server: ServeProcess) -> str:
    return server.get("/v1/models").json()["data"][0]["id"]


def test_settings_a_server_does_not_apply_are_named():
    params = SamplingParams(typical_p=0.9, dry_multiplier=0.8, ban=("suddenly",), min_p=0.05)
    fields, unapplied = request_fields(params, "vllm", 20)
    assert fields["min_p"] == 0.05 and fields["max_tokens"] == 20
    assert unapplied == ["typical_p", "dry_multiplier", "ban"]
    _, unapplied = request_fields(params, "llamacpp", 20)
    assert unapplied == ["ban"]
    assert request_fields(params, "writer", 20)[1] == []


def test_server_killed_mid_stream_keeps_the_candidates_so_far(long_server):
    engine = RemoteEngine(long_server.url)
    events = engine.stream("Once", SamplingParams(max_new_tokens=1000), n=4, seed=1)
    seen: list = []
    with pytest.raises(WriterError, match="stopped mid-generation.*partial candidate"):
        for event in events:
            seen.append(event)
            if isinstance(event, TokenDelta) and event.text and long_server.proc.poll() is None:
                long_server.kill()
    kept = [e.candidate for e in seen if isinstance(e, CandidateDone)]
    assert kept and all(c.finish_reason == "cancelled" and c.text for c in kept)


def test_cancel_returns_at_once_from_a_stalled_server(long_server):
    engine = RemoteEngine(long_server.url)
    cancel = threading.Event()
    events = engine.stream("Once", SamplingParams(max_new_tokens=1000), 4, 1, cancel=cancel)
    for event in events:
        if isinstance(event, TokenDelta) and event.text:
            long_server.pause()  # stalled: no more bytes will come
            break
    start = time.monotonic()
    cancel.set()
    rest = list(events)
    assert time.monotonic() - start < 5  # not the 120 s read timeout
    assert isinstance(rest[-1], GenerationDone) and rest[-1].cancelled


def test_app_with_a_malformed_engine_url_is_one_line(isolated_user_dirs):
    r = run_writer("--engine", "gpu-box:8000", env=isolated_user_dirs)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "http://" in r.stderr


def test_remote_engine_keeps_the_engine_contract(server):
    from tests.engine.test_engine_contract import _check

    engine = RemoteEngine(server.url)
    _check(engine)
    cancel = threading.Event()
    cancel.set()  # cancelled before a token: still a GenerationDone, marked cancelled
    events = list(engine.stream("Once", SamplingParams(max_new_tokens=50), 2, 1, cancel=cancel))
    assert isinstance(events[-1], GenerationDone) and events[-1].cancelled


def _same_tokens(remote, local) -> None:
    """Per-token data equal up to float noise between two processes."""
    assert [(t.token_id, t.text) for t in remote] == [(t.token_id, t.text) for t in local]
    for r, loc in zip(remote, local, strict=True):
        assert r.logprob == pytest.approx(loc.logprob, abs=1e-4)
        assert r.sampled_logprob == pytest.approx(loc.sampled_logprob, abs=1e-4)
        assert [(c.token_id, c.text) for c in r.top] == [(c.token_id, c.text) for c in loc.top]
        assert [c.logprob for c in r.top] == pytest.approx([c.logprob for c in loc.top], abs=1e-4)


@pytest.mark.parametrize("stop", ["none", "sentence", ("fox", " the")])
def test_remote_per_token_data_is_the_local_engines(server, auto_engine, stop):
    """logprobs=k through writer serve: the same tokens, probabilities and alternatives as the
    local engine, in the candidates and in the streamed deltas (texts adding up)."""
    engine = RemoteEngine(server.url)
    assert engine.supports_token_logprobs
    params = SamplingParams(max_new_tokens=12, temperature=0.9, top_k=40, stop=stop)
    events = list(engine.stream("Once upon a time", params, n=2, seed=5, logprobs=4))
    local = auto_engine.generate("Once upon a time", params, n=2, seed=5, logprobs=4)
    done = events[-1]
    assert isinstance(done, GenerationDone)
    for cand, mine in zip(done.candidates, local, strict=True):
        assert cand.text == mine.text and cand.tokens == mine.tokens
        assert len(cand.token_logprobs) == cand.tokens
        assert "".join(t.text for t in cand.token_logprobs) == cand.text
        _same_tokens(cand.token_logprobs, mine.token_logprobs)
        streamed = [t for e in events if isinstance(e, TokenDelta) and e.index == cand.index
                    for t in e.tokens]  # fmt: skip
        assert streamed == list(cand.token_logprobs)
    # top-k 40 keeps the sampled token: its sampling probability is finite and, for a token
    # outside the kept set, -inf comes back as -inf (JSON null on the wire).
    assert all(t.sampled_logprob > float("-inf") for t in done.candidates[0].token_logprobs)
    plain = engine.generate("Once upon a time", params, n=1, seed=5)
    assert plain[0].token_logprobs == ()  # nothing asked, nothing recorded


def test_remote_next_tokens_are_the_local_engines(server, auto_engine):
    params = SamplingParams(temperature=0.7, top_k=5)
    remote = RemoteEngine(server.url).next_tokens("Once upon a time", params, 6)
    local = auto_engine.next_tokens("Once upon a time", params, 6)
    assert len(remote) == 6
    assert [(c.token_id, c.text) for c in remote] == [(c.token_id, c.text) for c in local]
    assert [c.sampled_logprob for c in remote] == pytest.approx(
        [c.sampled_logprob for c in local], abs=1e-4
    )


def test_cli_logprobs_remotely_equal_the_local_ones(server, isolated_user_dirs, tiny_model_dir):
    args = ("generate", "Once upon a time", "-n", "2", "--seed", "3", "--json")
    args += ("--max-new-tokens", "8", "--logprobs", "3")
    local = run_writer(*args, "--model", str(tiny_model_dir), env=isolated_user_dirs)
    remote = run_writer(*args, "--engine", server.url, env=isolated_user_dirs)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    ours, theirs = json.loads(local.stdout)["candidates"], json.loads(remote.stdout)["candidates"]
    for mine, cand in zip(ours, theirs, strict=True):
        assert cand["text"] == mine["text"] and len(cand["logprobs"]) == cand["tokens"] == 8
        for a, b in zip(cand["logprobs"], mine["logprobs"], strict=True):
            assert a["token"] == b["token"] and len(a["top"]) == 3
            assert a["logprob"] == pytest.approx(b["logprob"], abs=1e-4)
            assert [t["token"] for t in a["top"]] == [t["token"] for t in b["top"]]


def test_openai_logprobs_from_other_servers_become_per_token_data():
    """A server that names tokens by text only (llama.cpp) or by "token_id:N" (vLLM): shares of
    the chunk text from text_offset (whatever its origin), alternatives most likely first,
    sampling probability unknown (NaN)."""
    import math

    from writer.engine.remote.logprobs import parse_logprobs

    by_text = {
        "tokens": [" fox", " ran"],
        "token_logprobs": [-1.5, -0.2],
        "top_logprobs": [{" fox": -1.5, " cat": -0.9, " dog": -2.0}, {" ran": -0.2}],
        "text_offset": [17, 21],  # counted from the prompt's start, as llama.cpp does
    }
    records = parse_logprobs(by_text, " fox ran", 2, lambda ids: {})
    assert [r.text for r in records] == [" fox", " ran"]
    assert records[0].logprob == -1.5 and math.isnan(records[0].sampled_logprob)
    assert [(c.text, c.logprob) for c in records[0].top] == [(" cat", -0.9), (" fox", -1.5)]
    assert records[0].top[1].token_id == records[0].token_id != records[0].top[0].token_id
    by_id = {
        "tokens": ["token_id:7", "token_id:8"],
        "token_logprobs": [-0.5, -0.1],
        "top_logprobs": [{"token_id:7": -0.5}, {"token_id:9": -0.05, "token_id:8": -0.1}],
        "text_offset": [0, 0],  # the first byte of "é" shows no text yet
    }
    names = {7: "\ufffd", 8: "\ufffd", 9: "x"}
    records = parse_logprobs(by_id, "é", 5, lambda ids: {i: names[i] for i in ids})
    assert [(r.token_id, r.text) for r in records] == [(7, ""), (8, "é")]
    assert [(c.token_id, c.text) for c in records[1].top] == [(9, "x"), (8, "\ufffd")]
