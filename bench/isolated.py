"""`python -m bench.run --isolated`: every way in a fresh process of its own (a user runs one or
the other), optionally beside a load (`--loads`: a CPU hog or a memory-copy hog on one core).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import ways
from bench.runners import make_runner
from bench.workloads import make_workloads


def run_worker(args: argparse.Namespace, model_dir: Path) -> int:
    """--isolated's child: load one way, warm it up, time each workload once, print JSON."""
    import torch
    from transformers import AutoTokenizer

    from writer.engine.loading import default_threads

    torch.set_num_threads(args.threads or default_threads())
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    by_name = {w.name: w for w in make_workloads(tokenizer, quick=args.quick)}
    start = time.perf_counter()
    run = make_runner(args.worker, args, model_dir, tokenizer, by_name)
    load_s = time.perf_counter() - start
    first = run(by_name["W2"], args.seed)  # warm-up; its first token is the process's first
    out = []
    for name in args.workloads.split(","):
        out.append(run(by_name[name.strip()], args.seed).to_dict())
    precision = getattr(getattr(run, "engine", None), "precision", None)
    print(
        "WORKER "
        + json.dumps(
            {
                "load_s": load_s,
                "process_first_token_s": first.first_token_s,
                "precision": precision,
                "measurements": out,
            }
        ),
        flush=True,
    )
    return 0


def isolated_rounds(
    args: argparse.Namespace, model_dir: Path, names: list[str], log: Any
) -> tuple[list[ways.Measurement], dict[str, Any]]:
    """Each round, each way (rotating order) in a fresh process of its own."""
    import subprocess

    from bench.hog import start_hog, stop_hog

    measurements: list[ways.Measurement] = []
    extras: dict[str, Any] = {}
    tagged = args.loads != ["quiet"]
    for round_ in range(args.repeat):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        runs = [(load, name) for load in args.loads for name in order]
        for load, name in runs:
            cmd = [sys.executable, "-m", "bench.run", "--worker", name]
            cmd += ["--models-dir", str(args.models_dir), "--model", args.model]
            cmd += ["--workloads", args.workloads, "--seed", str(args.seed + round_)]
            if args.tokenizer:
                cmd += ["--tokenizer", args.tokenizer]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            if args.quick:
                cmd.append("--quick")
            hog = None if load == "quiet" else start_hog(load)
            try:
                if hog is not None:
                    time.sleep(0.3)  # let it take its core
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            finally:
                stop_hog(hog)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WORKER ")), None)
            if line is None:
                raise SystemExit(f"bench: error: way {name} failed:\n{proc.stderr[-3000:]}")
            data = json.loads(line[len("WORKER ") :])
            way = f"{name}@{load}" if tagged else name
            extras.setdefault(way, []).append(
                {k: v for k, v in data.items() if k != "measurements"}
            )
            for m in data["measurements"]:
                m.pop("decode_tps", None)
                m["way"] = way
                measurements.append(ways.Measurement(**m))
                log(
                    f"round {round_ + 1}/{args.repeat} {m['workload']} {way} (own process): "
                    f"wall {m['wall_s']:.3f}s first {m['first_token_s']:.3f}s"
                )
    return measurements, extras
