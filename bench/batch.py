"""A batch job: many prompts, several candidates each. writer's `generate --prompts` (requests
in flight decoded together) against CTranslate2 int8 `generate_batch` on the same prompts.

    python -m bench.batch                      # 32 prompts x 4 candidates x 64 tokens, GPT-2 small
    python -m bench.batch --size tiny --prompts 4 -n 2 --tokens 8     # a smoke run

Each side runs as its own process, one after the other, timed from start to exit (imports,
model load, generation, output: "whole-process" tokens/s, what a user waits for); each also
reports its generation alone (writer: its summary line; CTranslate2: the `generate_batch` call).
Both sample with temperature 0.8 and top-k 50, no repetition penalty, `--tokens` new tokens
per candidate (CTranslate2 is held to exactly that many; writer stops early only at an end of
text, which a random model all but never draws: the token counts are reported). The models are
random GPT-2 shapes with GPT-2's real tokenizer (bench/models.py). Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import models
from bench.report import cpu_name, emit
from bench.workloads import _text, story_ids

TEMPERATURE = 0.8
TOP_K = 50


def make_prompts(tokenizer: Any, count: int, longest: int) -> list[str]:
    """`count` seeded stories of 32 to `longest` tokens (lengths spread, so rows differ)."""
    span = max(1, longest - 32)
    return [
        _text(tokenizer, story_ids(tokenizer, 32 + (i * 37) % span, seed=100 + i))
        for i in range(count)
    ]


def run_writer(model_dir: Path, prompts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """`writer generate --prompts` in a child process; its whole wall time and its own rate."""
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "prompts.jsonl"
        lines = [json.dumps({"prompt": p, "n": args.n, "seed": i}) for i, p in enumerate(prompts)]
        batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = Path(tmp) / "out.jsonl"
        command = [
            sys.executable,
            "-m",
            "writer",
            "generate",
            "--prompts",
            str(batch),
            "--model",
            str(model_dir),
            "--max-new-tokens",
            str(args.tokens),
            "--temperature",
            str(TEMPERATURE),
            "--top-k",
            str(TOP_K),
            "--top-p",
            "1",
            "--repetition-penalty",
            "1",
            "--stop",
            "none",
            "--concurrency",
            str(args.concurrency),
            "-o",
            str(out),
        ]
        if args.precision:
            command += ["--precision", args.precision]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        if args.threads:
            env["WRITER_THREADS"] = str(args.threads)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"bench: writer generate failed: {done.stderr.strip()[-500:]}")
        results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    counts = [c["tokens"] for r in results for c in r["candidates"]]
    own = re.search(r"([\d.]+) tokens/s in ([\d.]+)s", done.stderr)
    return {
        "way": f"writer --concurrency {args.concurrency}",
        "process_s": round(wall, 2),
        "tokens": sum(counts),
        "short_candidates": sum(1 for c in counts if c < args.tokens),
        "process_tokens_per_s": round(sum(counts) / wall, 1),
        "generate_s": float(own.group(2)) if own else None,
        "generate_tokens_per_s": float(own.group(1)) if own else None,
    }


def run_ct2(model_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """This module as a child process (`--worker`): CTranslate2 on the same prompts."""
    command = [sys.executable, "-m", "bench.batch", "--worker", str(model_dir)]
    command += _shared_flags(args)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench: CTranslate2 worker failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(process_s=round(wall, 2), process_tokens_per_s=round(result["tokens"] / wall, 1))
    return result


def ct2_worker(model_dir: Path, args: argparse.Namespace) -> None:
    import ctranslate2
    from transformers import AutoTokenizer

    ct2_dir = models.build_ct2(model_dir)
    assert ct2_dir is not None
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    prompts = make_prompts(tokenizer, args.prompts, args.longest)
    threads = args.threads or len(os.sched_getaffinity(0))
    generator = ctranslate2.Generator(
        str(ct2_dir), device="cpu", compute_type="int8", intra_threads=threads, inter_threads=1
    )
    ctranslate2.set_random_seed(0)
    start = time.perf_counter()
    tokens = [
        tokenizer.convert_ids_to_tokens(tokenizer(p, add_special_tokens=False)["input_ids"])
        for p in prompts
    ]
    results = generator.generate_batch(
        tokens,
        num_hypotheses=args.n,
        sampling_topk=TOP_K,
        sampling_temperature=TEMPERATURE,
        min_length=args.tokens,
        max_length=args.tokens,
        include_prompt_in_result=False,
        max_batch_size=args.ct2_batch,
    )
    wall = time.perf_counter() - start
    count = sum(len(seq) for r in results for seq in r.sequences_ids)
    out = {
        "way": "ctranslate2 int8 generate_batch",
        "tokens": count,
        "generate_s": round(wall, 2),
        "generate_tokens_per_s": round(count / wall, 1),
    }
    print(json.dumps(out))


def _shared_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--prompts", str(args.prompts), "-n", str(args.n), "--tokens", str(args.tokens)]
    flags += ["--longest", str(args.longest), "--ct2-batch", str(args.ct2_batch)]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    return flags


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(models.SPECS), default="small")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("-n", type=int, default=4, help="candidates per prompt")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per candidate")
    parser.add_argument("--longest", type=int, default=256, help="longest prompt, tokens")
    parser.add_argument("--concurrency", type=int, default=8, help="writer's requests in flight")
    parser.add_argument("--ct2-batch", type=int, default=0, help="CTranslate2 max_batch_size")
    parser.add_argument("--precision", help="writer's --precision (default: its auto)")
    parser.add_argument("--threads", type=int, help="threads for both (default: every core)")
    parser.add_argument("--tokenizer", help="GPT-2 tokenizer folder (default ../shared)")
    parser.add_argument("--models-dir", type=Path, default=models.DEFAULT_MODELS_DIR)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        ct2_worker(args.worker, args)
        return 0
    tokenizer_dir = models.resolve_tokenizer(args.tokenizer)
    model_dir = models.build_model(models.SPECS[args.size], args.models_dir, tokenizer_dir)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    prompts = make_prompts(tokenizer, args.prompts, args.longest)
    rows = [run_writer(model_dir, prompts, args)]
    if models.build_ct2(model_dir) is not None:  # converted once, before any clock starts
        rows.append(run_ct2(model_dir, args))
    else:
        note = "bench: CTranslate2 not installed (pip install ctranslate2): skipped"
        print(note, file=sys.stderr)
    report: dict[str, Any] = {
        "model": model_dir.name,
        "prompts": args.prompts,
        "n": args.n,
        "tokens": args.tokens,
        "cpu": cpu_name(),
        "ways": rows,
    }
    if len(rows) == 2:
        report["process_ratio"] = round(
            rows[0]["process_tokens_per_s"] / rows[1]["process_tokens_per_s"], 2
        )
        if rows[0]["generate_tokens_per_s"]:
            report["generate_ratio"] = round(
                rows[0]["generate_tokens_per_s"] / rows[1]["generate_tokens_per_s"], 2
            )
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
