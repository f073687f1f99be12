"""`writer serve` as any OpenAI client sees it: the official `openai` client and plain HTTP
against the real server in a subprocess (tiny model, free loopback port)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import _isolated_env, run_writer
from tests.servers import ServeProcess, build_long_model

KEY = "s3cret-test-key"


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    env = _isolated_env(tmp_path_factory.mktemp("serve-home"))
    proc = ServeProcess(tiny_model_dir, env)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def keyed_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    env = _isolated_env(tmp_path_factory.mktemp("serve-key-home"))
    proc = ServeProcess(tiny_model_dir, env, "--api-key", KEY)
    yield proc
    proc.stop()


def client(server: ServeProcess, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_openai_client_lists_the_model_and_completes_with_n_seed_and_logprobs(
    server, tiny_model_dir, auto_engine
):
    oa = client(server)
    models = oa.models.list().data
    assert [m.id for m in models] == [tiny_model_dir.name]  # its name, never its path
    args = dict(model=str(tiny_model_dir), prompt="Once upon a time", max_tokens=8)
    first = oa.completions.create(**args, n=3, seed=7, temperature=0.8, logprobs=1)
    again = oa.completions.create(**args, n=3, seed=7, temperature=0.8, logprobs=1)
    texts = [c.text for c in sorted(first.choices, key=lambda c: c.index)]
    assert texts == [c.text for c in sorted(again.choices, key=lambda c: c.index)]
    assert len(set(texts)) > 1
    assert first.usage.completion_tokens == 24
    # The server samples as writer does locally: candidate i is seed + i.
    from writer.presets import SamplingParams

    params = SamplingParams(temperature=0.8, top_p=1.0, top_k=0, repetition_penalty=1.0)
    local = auto_engine.generate("Once upon a time", params.replace(max_new_tokens=8), 3, 7)
    assert texts == [c.text for c in local]


def test_openai_client_streams_every_candidate(server):
    stream = client(server).completions.create(
        model=server_model(server),
        prompt="The fox",
        max_tokens=6,
        n=2,
        seed=3,
        stream=True,
    )
    texts = {0: "", 1: ""}
    finished = set()
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.text
            if choice.finish_reason:
                finished.add(choice.index)
    assert finished == {0, 1}
    whole = client(server).completions.create(
        model=server_model(server), prompt="The fox", max_tokens=6, n=2, seed=3
    )
    assert [texts[0], texts[1]] == [c.text for c in sorted(whole.choices, key=lambda c: c.index)]


def server_model(server: ServeProcess) -> str:
    return server.get("/v1/models").json()["data"][0]["id"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"temperature": 9}, 400, "temperature must be 0 (greedy) to 5"),
        ({"top_p": 0}, 400, "top_p"),
        ({"n": 99}, 400, "n must be a whole number from 1 to 16"),
        ({"max_tokens": 5000}, 400, "max_tokens must be 1 to 1000"),
        ({"model": "gpt-4"}, 404, "does not exist"),
        ({"prompt": [1, 2, 10**6]}, 400, "token ids"),
        ({"frobnicate": 1}, 400, "unknown parameter 'frobnicate'"),
        ({"seed": -1}, 400, "seed"),
    ],
)
def test_bad_requests_are_openai_style_errors(server, body, status, words):
    r = server.post("/v1/completions", json={"prompt": "Once", "max_tokens": 4, **body})
    assert r.status_code == status
    error = r.json()["error"]
    assert words in error["message"] and error["type"]


def test_openai_client_sees_a_bad_parameter_as_its_error(server):
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client(server).completions.create(model=server_model(server), prompt="x", temperature=7)


def test_tokenize_and_detokenize_round_trip(server, tiny_engine):
    ids = server.post("/tokenize", json={"prompt": "Once upon a time"}).json()["tokens"]
    assert ids == tiny_engine.tokenizer("Once upon a time", add_special_tokens=False)["input_ids"]
    text = server.post("/detokenize", json={"tokens": ids}).json()["prompt"]
    assert text == "Once upon a time"


def test_the_api_key_is_required_when_set(keyed_server):
    with pytest.raises(openai.AuthenticationError):
        client(keyed_server, "wrong").models.list()
    assert keyed_server.get("/v1/models").status_code == 401
    done = client(keyed_server, KEY).completions.create(
        model=server_model_with_key(keyed_server), prompt="Once", max_tokens=3
    )
    assert done.choices[0].finish_reason in ("length", "stop")


def server_model_with_key(server: ServeProcess) -> str:
    headers = {"Authorization": f"Bearer {KEY}"}
    return server.get("/v1/models", headers=headers).json()["data"][0]["id"]


def test_binding_beyond_loopback_needs_an_api_key(isolated_user_dirs, tiny_model_dir):
    r = run_writer(
        "serve", "--model", str(tiny_model_dir), "--host", "0.0.0.0", env=isolated_user_dirs
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--api-key" in r.stderr


def test_a_client_that_leaves_cancels_its_generation_and_the_queue_moves_on(
    tiny_model_dir, tmp_path_factory
):
    """A 16 x 1000-token request on the long model, abandoned after its first token: the
    server counts it cancelled and serves the next request."""
    long_model = build_long_model(tiny_model_dir, tmp_path_factory.mktemp("long"))
    proc = ServeProcess(long_model, _isolated_env(tmp_path_factory.mktemp("serve-long")))
    try:
        body = {"prompt": "Once", "max_tokens": 1000, "n": 16, "stream": True, "seed": 1}
        with httpx.Client(trust_env=False, timeout=60) as http:
            with http.stream("POST", proc.url + "/v1/completions", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        assert json.loads(line[5:])["choices"][0]["text"] is not None
                        break
        deadline = time.monotonic() + 60
        while proc.get("/health").json()["cancelled"] != 1:
            assert time.monotonic() < deadline, "the server never noticed the client leave"
            time.sleep(0.05)
        r = proc.post("/v1/completions", json={"prompt": "The", "max_tokens": 3})
        assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "length"
        assert proc.get("/health").json()["finished"] == 1
    finally:
        proc.stop()


def test_a_taken_port_is_one_error_line(server, isolated_user_dirs, tiny_model_dir):
    port = server.url.rsplit(":", 1)[1]
    r = run_writer("serve", "--model", str(tiny_model_dir), "--port", port, env=isolated_user_dirs)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "cannot listen" in r.stderr and "--port" in r.stderr


def test_an_oversized_or_broken_body_is_refused(server):
    big = server.post("/v1/completions", content=b'{"prompt": "' + b"a" * (5 * 2**20) + b'"}')
    assert big.status_code == 413 and "over 4 MB" in big.json()["error"]["message"]
    broken = server.post("/v1/completions", content=b"{not json")
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]


def test_openai_client_gets_per_token_logprobs_whole_and_streamed(server):
    """`logprobs: K` gives OpenAI's completions shape: a token list, its log-probabilities,
    K alternatives per token (most likely first) and text offsets; the streamed chunks carry
    the same tokens as the whole response."""
    oa = client(server)
    args = dict(model=server_model(server), prompt="Once upon a time", max_tokens=6, seed=2)
    # Tokens named by id (vLLM's option): two tokens with the same text stay two keys.
    ids = {"return_tokens_as_token_ids": True}
    whole = oa.completions.create(**args, n=2, logprobs=3, extra_body=ids)
    for choice in whole.choices:
        lp = choice.logprobs
        assert lp is not None and len(lp.tokens) == 6
        assert len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 6
        assert all(isinstance(x, float) and x <= 0 for x in lp.token_logprobs)
        for token, value, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
            assert len(top) == 3 and token.startswith("token_id:")
            assert list(top.values()) == sorted(top.values(), reverse=True)
            if token in top:
                assert top[token] == value
            else:  # sampled outside the top 3: less likely than each of them
                assert value <= min(top.values())
        assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
        assert lp.text_offset[-1] <= len(choice.text)
    streamed: dict[int, list] = {0: [], 1: []}
    for chunk in oa.completions.create(**args, n=2, logprobs=3, stream=True, extra_body=ids):
        for choice in chunk.choices:
            if choice.logprobs is not None:
                assert len(choice.logprobs.tokens) == len(choice.logprobs.text_offset)
                streamed[choice.index] += zip(
                    choice.logprobs.tokens,
                    choice.logprobs.token_logprobs,
                    choice.logprobs.text_offset,
                    strict=True,
                )
    for choice in whole.choices:
        lp = choice.logprobs
        assert streamed[choice.index] == list(
            zip(lp.tokens, lp.token_logprobs, lp.text_offset, strict=True)
        )
    # By text (the default), the tokens' own texts.
    texts = oa.completions.create(**args, n=1, logprobs=2).choices[0].logprobs
    assert len(texts.tokens) == 6 and not any(t.startswith("token_id:") for t in texts.tokens)
    assert all(1 <= len(top) <= 2 for top in texts.top_logprobs)
    # Without logprobs, none are sent.
    assert oa.completions.create(**args, n=1).choices[0].logprobs is None
    # More than 20 alternatives is refused as OpenAI-style error.
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        oa.completions.create(**args, logprobs=21)


DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE_BODIES = {  # (body, words of the error message)
    "deep": (DEEP, "nests lists or objects too deeply"),
    "deep-field": (b'{"prompt": "a", "x": ' + DEEP + b"}", "nests lists or objects too deeply"),
    "surrogate": (b'{"prompt": "a \\ud800 b", "max_tokens": 2}', "lone surrogate"),
    "int-as-text": (b'{"prompt": "a", "max_tokens": "16"}', "max_tokens must be a JSON integer"),
    "int-as-float": (b'{"prompt": "a", "max_tokens": 16.0}', "max_tokens must be a JSON integer"),
    "float-as-text": (
        b'{"prompt": "a", "temperature": "0.5"}',
        "temperature must be a JSON number",
    ),
    "model-list": (b'{"prompt": "a", "model": ["x"]}', "does not exist"),
}


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
def test_hostile_bodies_are_400_with_an_openai_error(server, case):
    body, words = HOSTILE_BODIES[case]
    response = server.post("/v1/completions", content=body)
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert words in error["message"] and error["type"] == "invalid_request_error"


def test_tokenize_has_a_size_cap(server):
    response = server.post("/tokenize", json={"prompt": "word " * 250_000})
    assert response.status_code == 413
    assert "over 1,000,000 characters" in response.json()["error"]["message"]
    assert server.post("/tokenize", json={"prompt": "word " * 1000}).json()["count"] > 0


def test_requests_may_name_the_model_by_its_path_or_name(server, tiny_model_dir):
    for name in (tiny_model_dir.name, str(tiny_model_dir)):
        body = {"model": name, "prompt": "Once", "max_tokens": 1}
        assert server.post("/v1/completions", json=body).status_code == 200, name


def test_a_non_ascii_api_key_is_refused_at_start(isolated_user_dirs):
    proc = run_writer("serve", "--api-key", "clé-secrète", env=isolated_user_dirs)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "--api-key must be printable ASCII" in lines[0]
