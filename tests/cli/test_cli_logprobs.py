"""`writer generate --json --logprobs K` through the real CLI, in a subprocess."""

from __future__ import annotations

import json
import math

import pytest

from tests.cli.test_cli_generate import one_error_line
from tests.conftest import run_writer


def test_json_logprobs_list_every_token_with_k_alternatives(tiny_model_dir, isolated_user_dirs):
    args = ["generate", "Once upon a time", "--model", str(tiny_model_dir), "-n", "2",
            "--top-k", "5", "--max-new-tokens", "8", "--stop", "none", "--seed", "3",
            "--json", "--logprobs", "4"]  # fmt: skip
    r = run_writer(*args, env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # strict JSON: no -Infinity
    for cand in result["candidates"]:
        tokens = cand["logprobs"]
        assert len(tokens) == cand["tokens"]
        assert "".join(t["token"] for t in tokens) == cand["text"]
        mean = sum(t["logprob"] for t in tokens) / len(tokens)
        assert mean == pytest.approx(cand["logprob"], abs=1e-3)
        for t in tokens:
            assert set(t) == {"token", "logprob", "sampled_logprob", "top"}
            assert len(t["top"]) == 4
            assert [set(a) for a in t["top"]] == [{"token", "logprob", "sampled_logprob"}] * 4
            values = [a["logprob"] for a in t["top"]]
            assert values == sorted(values, reverse=True)  # most likely first
            assert t["logprob"] <= values[0] + 1e-6
            # top-k 5 sampled the token: its sampling probability is a real one
            assert t["sampled_logprob"] is not None and t["sampled_logprob"] <= 0
            # the sampling distribution of the top 4 (all inside top-k 5) sums to at most 1
            assert sum(math.exp(a["sampled_logprob"]) for a in t["top"]) <= 1 + 1e-6
    # Without the flag: no "logprobs" key, the same candidates.
    plain = run_writer(*args[:-2], env=isolated_user_dirs)
    plain_cands = json.loads(plain.stdout)["candidates"]
    assert all("logprobs" not in c for c in plain_cands)
    assert [c["text"] for c in plain_cands] == [c["text"] for c in result["candidates"]]


def test_tokens_outside_the_kept_set_are_null(tiny_model_dir, isolated_user_dirs):
    args = ["generate", "Once upon a time", "--model", str(tiny_model_dir), "-n", "1",
            "--top-k", "2", "--max-new-tokens", "3", "--seed", "1", "--json",
            "--logprobs", "6"]  # fmt: skip
    r = run_writer(*args, env=isolated_user_dirs)
    assert r.returncode == 0, r.stderr
    for t in json.loads(r.stdout)["candidates"][0]["logprobs"]:
        # top-k 2: only the two most likely have a sampling probability
        assert [a["sampled_logprob"] is None for a in t["top"]] == [False] * 2 + [True] * 4


@pytest.mark.parametrize(
    "args, words",
    [
        (["--logprobs", "3"], "--logprobs needs --json"),
        (["--json", "--logprobs", "21"], "--logprobs must be 0 to 20"),
        (["--json", "--logprobs", "-1"], "--logprobs must be 0 to 20"),
        (["--json", "--logprobs", "many"], "invalid int"),
    ],
)
def test_bad_logprobs_get_one_line_error(args, words, isolated_user_dirs):
    r = run_writer("generate", "x", *args, env=isolated_user_dirs)
    assert r.returncode == 2, r.stderr
    assert words in one_error_line(r)
