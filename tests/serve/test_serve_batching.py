"""`writer serve` with completions in flight together (writer.serve.scheduler), through the
official `openai` client against the real server in a subprocess."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import _isolated_env, run_writer
from tests.servers import ServeProcess, build_long_model


@pytest.fixture(scope="module")
def busy_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The long model (a 1024-token window: streams stay open a while), 4 completions decoded
    together at most and none waiting."""
    model = build_long_model(tiny_model_dir, tmp_path_factory.mktemp("long-batch"))
    env = _isolated_env(tmp_path_factory.mktemp("serve-batch-home"))
    proc = ServeProcess(model, env, "--max-running", "4", "--max-waiting", "0")
    yield proc
    proc.stop()


def client(server: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=60)


def _idle(server: ServeProcess) -> None:
    deadline = time.monotonic() + 60
    while server.get("/health").json()["queue"]["running"]:
        assert time.monotonic() < deadline, "requests still running"
        time.sleep(0.05)


PROMPTS = ["Once upon a time", "The ship sailed north for three days.", "She said", "The fox"]


def test_four_concurrent_streams_each_get_what_they_get_alone(busy_server):
    oa = client(busy_server)
    args = dict(max_tokens=40, n=2, temperature=1.0, logprobs=1)
    alone = []
    for i, prompt in enumerate(PROMPTS):
        done = oa.completions.create(model=None, prompt=prompt, seed=i, **args)
        alone.append({c.index: c.text for c in done.choices})
    streamed: list[dict[int, str]] = [{0: "", 1: ""} for _ in PROMPTS]
    finish: list[dict[int, str]] = [{} for _ in PROMPTS]
    start = threading.Barrier(len(PROMPTS))
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            stream = oa.completions.create(
                model=None, prompt=PROMPTS[i], seed=i, stream=True, **args
            )
            for chunk in stream:
                for choice in chunk.choices:
                    streamed[i][choice.index] += choice.text
                    if choice.finish_reason:
                        finish[i][choice.index] = choice.finish_reason
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert streamed == alone
    assert all(set(f) == {0, 1} for f in finish)
    health = busy_server.get("/health").json()
    assert health["queue"]["widest_step"] >= 2  # the streams shared decode steps
    assert health["queue"]["tokens"] > 0 and "tokens_per_s" in health["queue"]


def test_a_full_queue_answers_503_with_retry_after(busy_server):
    _idle(busy_server)
    body = {"prompt": "Once", "max_tokens": 1000, "n": 8, "stream": True, "ignore_eos": True}
    with httpx.Client(trust_env=False, timeout=60) as http:
        opened = []
        try:
            for _ in range(4):  # fill every running place
                response = http.send(
                    http.build_request("POST", busy_server.url + "/v1/completions", json=body),
                    stream=True,
                )
                lines = response.iter_lines()  # kept: a closed iterator closes the stream
                opened.append((response, lines))
                line = next(x for x in lines if x.startswith("data:"))
                assert json.loads(line[5:])["choices"]
            refused = busy_server.post("/v1/completions", json={"prompt": "The", "max_tokens": 3})
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error"]["code"] == 503
            with pytest.raises(openai.InternalServerError):
                client(busy_server).completions.create(model=None, prompt="The", max_tokens=3)
        finally:
            for response, _ in opened:
                response.close()
    _idle(busy_server)  # the clients that left were cancelled; the server takes requests again
    again = busy_server.post("/v1/completions", json={"prompt": "The", "max_tokens": 3})
    assert again.status_code == 200


def test_vllm_sampling_fields_are_accepted(busy_server):
    _idle(busy_server)
    oa = client(busy_server)
    done = oa.completions.create(
        model=None,
        prompt="The fox",
        max_tokens=12,
        n=3,
        seed=5,
        extra_body={
            "ignore_eos": True,
            "min_tokens": 4,
            "top_k": 20,
            "min_p": 0.05,
            "repetition_penalty": 1.1,
        },
    )
    assert done.usage.completion_tokens == 36  # no end of text before max_tokens
    assert all(c.finish_reason == "length" for c in done.choices)
    ok = oa.completions.create(model=None, prompt="The", max_tokens=5, extra_body={"min_tokens": 2})
    assert ok.choices[0].text is not None
    with pytest.raises(openai.BadRequestError, match="min_tokens"):
        oa.completions.create(model=None, prompt="The", max_tokens=5, extra_body={"min_tokens": 9})
    with pytest.raises(openai.BadRequestError, match="ignore_eos"):
        oa.completions.create(
            model=None, prompt="The", max_tokens=5, extra_body={"ignore_eos": "yes"}
        )


def test_health_reports_the_queue(busy_server):
    queue = busy_server.get("/health").json()["queue"]
    assert {"running", "waiting", "tokens_per_s", "max_running"} <= set(queue)
    assert queue["max_running"] == 4
    with httpx.Client(trust_env=False, timeout=30) as http:
        r = http.post(busy_server.url + "/v1/completions", json={"prompt": "x", "model": None})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-running", "0"), ("--max-running", "999"), ("--max-waiting", "-1")]
)
def test_queue_limits_out_of_range_are_one_usage_line(isolated_user_dirs, flag, value):
    r = run_writer("serve", "--model", "nowhere", flag, value, env=isolated_user_dirs)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and flag in r.stderr
