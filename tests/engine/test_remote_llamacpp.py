"""writer's remote engine against a third-party server: llama-cpp-python's OpenAI-compatible
server (from the package registry) with the tiny GPT-2 converted to GGUF.

llama-cpp-python has no Linux wheels on PyPI: installing it builds llama.cpp from source (about
20 minutes on a 2-core machine with two compile jobs). So these tests are marked `llamacpp` and
skipped where it is not installed; on a machine that has it:

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF" pip install 'llama-cpp-python[server]'
    pytest -m llamacpp tests/engine/test_remote_llamacpp.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import run_writer
from tests.servers import build_gguf

pytest.importorskip("llama_cpp.server", reason="pip install 'llama-cpp-python[server]'")
pytestmark = pytest.mark.llamacpp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    gguf = build_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
        + ["--port", str(port), "--n_ctx", "128", "--model_alias", "tiny-gguf"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/v1/models", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("llama_cpp.server did not start: " + proc.stderr.read()[-2000:])
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(30)


def test_engine_streams_n_candidates_from_llama_cpp(llama_server):
    from writer.engine.remote.client import RemoteEngine
    from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
    from writer.presets import SamplingParams

    notes: list[str] = []
    engine = RemoteEngine(llama_server, notice=notes.append)
    assert engine.name == "tiny-gguf" and engine.kind == "llamacpp"
    params = SamplingParams(max_new_tokens=8, min_p=0.05, ban=("fox",))
    events = list(engine.stream("Once upon a time", params, n=3, seed=4))
    assert {e.index for e in events if isinstance(e, TokenDelta) and e.text} == {0, 1, 2}
    assert len([e for e in events if isinstance(e, CandidateDone)]) == 3
    done = events[-1]
    assert isinstance(done, GenerationDone) and [c.seed for c in done.candidates] == [4, 5, 6]
    # The server ignores n and cuts a stream short when another request arrives, so the
    # candidates are requested one after another: each runs to its full length.
    assert all(c.finish_reason == "length" and c.tokens >= 8 for c in done.candidates)
    again = engine.generate("Once upon a time", params, n=3, seed=4)
    assert [c.text for c in again] == [c.text for c in done.candidates]  # seed+i per request
    assert any("ban" in note for note in notes)  # named once...
    list(engine.stream("Once", params, n=1, seed=1))
    assert len([n for n in notes if "ban" in n]) == 1  # ...not on every request


def test_cli_against_llama_cpp(llama_server, isolated_user_dirs):
    r = run_writer(
        "generate", "Once upon a time", "--engine", llama_server, "-n", "2", "--seed", "3",
        "--max-new-tokens", "6", "--json", env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["model"] == "tiny-gguf" and len(result["candidates"]) == 2


def test_per_token_data_from_llama_cpp(llama_server):
    """logprobs=k through llama.cpp: per-token data whose texts add up to the candidate, the
    alternatives most likely first; llama.cpp gives no sampling-distribution value (NaN)."""
    import math

    from writer.engine.remote.client import RemoteEngine
    from writer.engine.types import GenerationDone, TokenDelta
    from writer.presets import SamplingParams

    engine = RemoteEngine(llama_server, notice=lambda text: None)
    params = SamplingParams(max_new_tokens=8, stop="none")
    events = list(engine.stream("Once upon a time", params, n=2, seed=1, logprobs=3))
    done = events[-1]
    assert isinstance(done, GenerationDone)
    for cand in done.candidates:
        tokens = cand.token_logprobs
        assert tokens and "".join(t.text for t in tokens) == cand.text
        assert len(tokens) == cand.tokens
        for tok in tokens:
            assert tok.logprob <= 0 and math.isnan(tok.sampled_logprob)
            assert 1 <= len(tok.top) <= 3
            assert [c.logprob for c in tok.top] == sorted(
                (c.logprob for c in tok.top), reverse=True
            )
        streamed = [t for e in events if isinstance(e, TokenDelta) and e.index == cand.index
                    for t in e.tokens]  # fmt: skip
        assert streamed == list(tokens)
    choices = engine.next_tokens("Once upon a time", params, 3)
    assert 1 <= len(choices) <= 3 and all(c.logprob <= 0 for c in choices)


def test_cli_logprobs_against_llama_cpp(llama_server, isolated_user_dirs):
    r = run_writer(
        "generate", "Once upon a time", "--engine", llama_server, "-n", "2", "--seed", "3",
        "--max-new-tokens", "6", "--json", "--logprobs", "2", env=isolated_user_dirs,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for cand in json.loads(r.stdout)["candidates"]:
        assert "".join(t["token"] for t in cand["logprobs"]) == cand["text"]
        assert all(t["sampled_logprob"] is None and len(t["top"]) <= 2 for t in cand["logprobs"])


def test_openai_client_against_llama_cpp(llama_server):
    """The converted GGUF served by llama.cpp answers the official client (the shape writer's
    remote engine reads)."""
    oa = openai.OpenAI(base_url=llama_server + "/v1", api_key="none", max_retries=0, timeout=60)
    assert [m.id for m in oa.models.list().data] == ["tiny-gguf"]
    result = oa.completions.create(
        model="tiny-gguf", prompt="Once upon a time", max_tokens=5, seed=2, logprobs=2
    )
    lp = result.choices[0].logprobs
    # llama-cpp-python may count a token more than asked where bytes make up a character.
    assert len(lp.tokens) == result.usage.completion_tokens >= 5
    assert len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == len(lp.tokens)
