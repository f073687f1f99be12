"""`writer generate --prompts` with a local model: the requests in flight are decoded together
(writer.engine.batching) and each prompt gets the candidates it gets alone."""

from __future__ import annotations

import json

from tests.conftest import run_writer


def test_a_local_batch_in_flight_gives_each_prompt_its_own_candidates(
    tmp_path, tiny_model_dir, isolated_user_dirs
):
    prompts = ["Once upon a time", "The ship sailed north", "She said", "The house was " * 5]
    batch = tmp_path / "batch.jsonl"
    lines = [json.dumps({"prompt": p, "n": 2, "seed": 10 + i}) for i, p in enumerate(prompts)]
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = {}
    for concurrency in ("1", "4"):
        out = tmp_path / f"out{concurrency}.jsonl"
        r = run_writer(
            "generate",
            "--prompts",
            str(batch),
            "--model",
            str(tiny_model_dir),
            "--max-new-tokens",
            "12",
            "--concurrency",
            concurrency,
            "-o",
            str(out),
            env=isolated_user_dirs,
        )
        assert r.returncode == 0, r.stderr
        got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        results[concurrency] = {x["index"]: x["candidates"] for x in got}
    assert sorted(results["4"]) == [0, 1, 2, 3]
    assert results["4"] == results["1"]
