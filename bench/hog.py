"""`python -m bench.run --hog`: W1 on a quiet machine and with a CPU hog on one core.

With torch's default of one thread per core, a single busy program made
the engine 5-10x slower (its thread pool waits for the thread that has no core). The engine
now times its decode steps and drops to one thread while that happens (`ThreadGovernor` in
writer/engine/gpt2/backends.py). This mode runs W1, interleaved, in four conditions: quiet or with a
hog (a busy loop pinned to the last core), with the governor on (the default) or off (a fixed
thread count), and checks that the engine stays within 2x of its quiet time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HOG = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"
# A neighbour that moves memory rather than only spinning: copying 128 MB back and forth keeps the
# memory bus and the shared caches busy, as a browser, a build or a video call does.
MEMORY_HOG = (
    "import os, sys\nimport numpy as np\nos.sched_setaffinity(0, {int(sys.argv[1])})\n"
    "a = np.ones(16 * 1024 * 1024)\nb = np.empty_like(a)\nwhile True:\n    np.copyto(b, a)\n"
)
LOADS = ("quiet", "cpu", "mem")


def start_hog(kind: str = "cpu") -> subprocess.Popen[bytes]:
    """A busy loop (`cpu`) or a memory copy loop (`mem`) pinned to the last CPU this process
    may use."""
    cpu = max(os.sched_getaffinity(0))
    code = MEMORY_HOG if kind == "mem" else HOG
    return subprocess.Popen([sys.executable, "-c", code, str(cpu)])


def stop_hog(hog: subprocess.Popen[bytes] | None) -> None:
    if hog is not None:
        hog.kill()
        hog.wait()


def main(args: argparse.Namespace, model_dir: Path, log: Any) -> int:
    import torch
    from transformers import AutoTokenizer

    from bench import ways
    from bench.workloads import make_workloads
    from writer.engine import load_engine
    from writer.engine.gpt2.backends import ThreadGovernor
    from writer.engine.loading import default_threads

    threads = args.threads or default_threads()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    w1 = {w.name: w for w in make_workloads(tokenizer, quick=args.quick)}["W1"]
    engine = load_engine(str(model_dir), device="cpu", threads=threads)
    governor = engine.backend.governor
    ways.run_engine(engine, w1, args.seed)  # warm-up
    times: dict[tuple[str, str], list[float]] = {}
    conditions = [(load, gov) for load in ("quiet", "hog") for gov in ("on", "off")]
    for round_ in range(args.repeat):
        order = conditions[round_ % 4 :] + conditions[: round_ % 4]
        for load, gov in order:
            ThreadGovernor.enabled = gov == "on"
            torch.set_num_threads(threads)
            hog = start_hog() if load == "hog" else None
            try:
                if hog is not None:
                    time.sleep(0.2)  # let it take its core
                engine.clear_cache()
                m = ways.run_engine(engine, w1, args.seed + round_)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            times.setdefault((load, gov), []).append(m.wall_s)
            log(f"round {round_ + 1} W1 {load} governor {gov}: {m.wall_s:.3f}s")
    ThreadGovernor.enabled = True
    torch.set_num_threads(threads)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("# writer engine under a CPU hog (W1)\n")
    print(
        f"{threads} threads by default, precision {engine.precision}, {args.repeat} rounds, "
        f"medians; hog = a busy loop pinned to one core; load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; drops to one thread seen: "
        f"{governor.drops}.\n"
    )
    print("| thread governor | quiet s | hog s | hog / quiet |\n|---|---|---|---|")
    for gov in ("on", "off"):
        q, h = med[("quiet", gov)], med[("hog", gov)]
        label = "on (default)" if gov == "on" else "off (fixed threads)"
        print(f"| {label} | {q:.3f} | {h:.3f} | {h / q:.2f}x |")
    ratio = med[("hog", "on")] / med[("quiet", "on")]
    verdict = "PASS" if ratio <= 2.0 else "FAIL"
    print(f"\n```\n{verdict}  W1 with a hog: engine {ratio:.2f}x its quiet time (<= 2x)\n```")
    return 0
