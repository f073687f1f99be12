"""Where a decode step's time goes, quiet and beside a load: a per-op split.

    python -m bench.step_split                          # quiet, cpu and mem loads; 2 and 1 threads
    python -m bench.step_split --loads quiet --threads 2 --size tiny   # a smoke run

For each load (bench.hog: nothing, a busy loop, or a loop copying 128 MB, pinned to one core)
and each thread count, this process runs the W1 and W2 workloads through the engine (int8 on
x86, the default precision; the thread governor off, so the thread count is the one asked
for) on a random GPT-2 with GPT-2's tokenizer:

- `step_ms`: a decode step's wall time without the profiler (total decode time / steps);
- the op split, with torch.profiler, in ms per step: the int8 matrix kernels (lm_head
  included), the per-row activation quantization around them (absmax, scale, dequantize),
  copies (the int8 prompt's bf16 keys/values widened to float32, the 8-row padding), the
  attention's own work (products, softmax, concatenation, masks), layer norms and GELU, other
  ops inside the step, and `sampling` (everything of a step outside the model: processors,
  softmax over the vocabulary, the draw, the loop);
- `wait_ms`: how long the step's threads sat runnable without a core (the kernel's run-queue
  wait, writer.engine.gpt2.contention): the cost behind thread synchronisation, since every
  parallel region ends when its slowest thread does.

The profiler adds a few microseconds per op, so the split's total exceeds `step_ms`; read it
for proportions and for how each part grows under a load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import models
from bench.hog import start_hog, stop_hog
from bench.report import machine_note
from bench.workloads import make_workloads

GROUPS = {
    "int8 kernels": ("quantized::linear_dynamic", "aten::mm", "aten::linear", "aten::addmm"),
    "activation quantization": ("aten::abs", "aten::amax", "aten::clamp_", "aten::div"),
    "dequantize": ("aten::mul_", "aten::addcmul"),
    "copies (KV widening, padding)": ("aten::copy_", "aten::to", "aten::_to_copy"),
    "attention": (
        "aten::bmm",
        "aten::softmax",
        "aten::_softmax",
        "aten::cat",
        "aten::masked_fill",
        "aten::mul",
        "aten::index_put_",
    ),
    "layer norm, GELU": ("aten::layer_norm", "aten::native_layer_norm", "aten::gelu"),
}


def _group(name: str) -> str:
    for group, names in GROUPS.items():
        if name in names:
            return group
    return "other in the step"


def split_of(engine: Any, wl: Any, seed: int) -> dict[str, float]:
    """One profiled request: ms per decode step by group (sampling = outside the model)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    runner = engine.backend.runner
    plain_decode, plain_prefill = runner.decode, runner.prefill

    def decode(*a: Any, **k: Any) -> Any:
        with record_function("decode step"):
            return plain_decode(*a, **k)

    def prefill(*a: Any, **k: Any) -> Any:
        with record_function("prefill"):
            return plain_prefill(*a, **k)

    runner.decode, runner.prefill = decode, prefill
    engine.backend.clear_cache()
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            _run(engine, wl, seed)
    finally:
        runner.decode, runner.prefill = plain_decode, plain_prefill
    totals: dict[str, float] = defaultdict(float)
    steps = 0
    roots = [e for e in prof.events() if e.cpu_parent is None]
    for event in roots:
        if event.name == "prefill":
            continue
        if event.name == "decode step":
            steps += 1
            for child in event.cpu_children:
                totals[_group(child.name)] += child.cpu_time_total / 1000
        else:
            totals["sampling"] += event.cpu_time_total / 1000
    return {k: round(v / max(1, steps), 3) for k, v in sorted(totals.items())}


def _run(engine: Any, wl: Any, seed: int) -> tuple[float, int]:
    from bench.ways import run_engine

    m = run_engine(engine, wl, seed)
    return m.wall_s - m.first_token_s, max(m.token_counts)


def measure(engine: Any, wl: Any, seed: int, repeat: int) -> dict[str, Any]:
    from writer.engine.gpt2.contention import CpuProbe

    probe = CpuProbe.create()
    step_ms, wait_ms = [], []
    for _ in range(repeat):
        engine.backend.clear_cache()
        before = probe.sample() if probe else None
        decode_s, steps = _run(engine, wl, seed)
        after = probe.sample() if probe else None
        step_ms.append(1000 * decode_s / max(1, steps - 1))
        if before is not None and after is not None:
            # The whole request's wait over its decode steps (the prompt's share is small).
            wait_ms.append((after.waited_ns - before.waited_ns) / 1e6 / max(1, steps - 1))
    row: dict[str, Any] = {"step_ms": round(statistics.median(step_ms), 2)}
    if wait_ms:
        row["wait_ms"] = round(statistics.median(wait_ms), 2)
    row["split_ms"] = split_of(engine, wl, seed)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(models.SPECS), default="small")
    parser.add_argument("--loads", default="quiet,cpu,mem")
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer")
    parser.add_argument("--models-dir", type=Path, default=models.DEFAULT_MODELS_DIR)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoTokenizer

    from writer.engine import load_engine
    from writer.engine.gpt2.backends import ThreadGovernor

    model_dir = models.build_model(
        models.SPECS[args.size], args.models_dir, models.resolve_tokenizer(args.tokenizer)
    )
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    quick = args.size == "tiny"
    by_name = {w.name: w for w in make_workloads(tokenizer, quick=quick)}
    threads = [int(t) for t in args.threads.split(",")]
    engine = load_engine(str(model_dir), device="cpu", threads=max(threads))
    rows: list[dict[str, Any]] = []
    saved_threads = torch.get_num_threads()
    ThreadGovernor.enabled = False  # the thread count under study, whatever the load
    try:
        _measure_all(args, engine, by_name, threads, rows)
    finally:
        ThreadGovernor.enabled = True
        torch.set_num_threads(saved_threads)
    report = {"machine": machine_note(max(threads)), "model": model_dir.name}
    report["precision"] = engine.precision
    report["rows"] = rows
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["machine"]))
    print(_table(rows))
    return 0


def _measure_all(
    args: argparse.Namespace,
    engine: Any,
    by_name: dict[str, Any],
    threads: list[int],
    rows: list[dict[str, Any]],
) -> None:
    import torch

    for load in args.loads.split(","):
        hog = None if load == "quiet" else start_hog(load)
        try:
            time.sleep(0.5 if hog else 0)
            for count in threads:
                torch.set_num_threads(count)
                engine.backend.governor.full = engine.backend.governor.current = count
                for name in args.workloads.split(","):
                    wl = by_name[name]
                    _run(engine, wl, args.seed)  # warm-up
                    row = {"load": load, "threads": count, "workload": name}
                    row.update(measure(engine, wl, args.seed, args.repeat))
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            stop_hog(hog)


def _table(rows: list[dict[str, Any]]) -> str:
    groups = sorted({g for r in rows for g in r["split_ms"]})
    head = ["load", "threads", "workload", "step ms", "wait ms", *groups]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["load"], str(r["threads"]), r["workload"], f"{r['step_ms']:.2f}"]
        cells.append(f"{r.get('wait_ms', float('nan')):.2f}")
        cells += [f"{r['split_ms'].get(g, 0.0):.2f}" for g in groups]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
