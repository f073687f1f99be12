"""`python -m bench.run`: writer's engine vs plain `model.generate` vs CTranslate2, one process.

Builds (once) a seeded random GPT-2 small with GPT-2's real tokenizer, then runs W1-W4 for k
interleaved rounds: per workload, each way in turn (the starting way rotates every round), so
background noise hits all ways alike. Prints Markdown (and --json FILE); see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from bench import models, report, ways
from bench.quality import compare
from bench.runners import make_runner, way_names
from bench.workloads import heldout_ids, make_workloads


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny model, short prompts, 1 round: checks the harness, not speed",
    )
    p.add_argument(
        "--model",
        choices=sorted(models.SPECS),
        default=None,
        help="model shape (default: small; tiny with --quick)",
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=models.DEFAULT_MODELS_DIR,
        help="where built models are cached (default: .bench-models/ in the repo)",
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        help="GPT-2 tokenizer folder (default: ../shared/gpt2-tokenizer)",
    )
    p.add_argument("--repeat", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every way (default: writer's default_threads())",
    )
    p.add_argument(
        "--precision",
        action="append",
        default=[],
        metavar="P",
        help="also run the engine in precision P (e.g. bf16) and check its quality "
        "against fp32; repeatable",
    )
    p.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated subset")
    p.add_argument("--no-ct2", action="store_true", help="skip CTranslate2")
    p.add_argument(
        "--ct2-resident",
        action="store_true",
        help="keep one CTranslate2 Generator alive for the whole run (it slows the other ways)",
    )
    p.add_argument("--no-plain", action="store_true", help="skip plain model.generate")
    p.add_argument(
        "--steer",
        action="store_true",
        help="add an engine-steer way: the engine with min-p, typical-p, DRY, repetition "
        "range, phrase bans and bias all on (target: within 10%% of engine)",
    )
    p.add_argument(
        "--logprobs",
        type=int,
        nargs="?",
        const=10,
        default=None,
        metavar="K",
        help="add an engine-logprobs way: the engine recording per-token probabilities with K "
        "alternatives (default 10; target: W1 wall within 5%% of engine)",
    )
    p.add_argument(
        "--context-cache",
        action="store_true",
        help="measure instead: first-token time after typing 20 tokens, with memory + 3 "
        "lorebook entries + an author's note against without",
    )
    p.add_argument(
        "--loops",
        action="store_true",
        help="measure instead: repeated-4-gram rate over 20 seeded candidates on a looping "
        "prompt, without and with DRY (quality, not speed)",
    )
    p.add_argument(
        "--isolated",
        action="store_true",
        help="run every way in its own fresh process (a user runs one or the other), "
        "ways interleaved per round",
    )
    p.add_argument(
        "--loads",
        default="quiet",
        metavar="L,L",
        help="with --isolated: run every way under each of these loads, in one run: quiet, cpu "
        "(a busy loop on one core), mem (a 128 MB memory copy loop on one core)",
    )
    p.add_argument(
        "--hog",
        action="store_true",
        help="threads under load: W1 with the engine, quiet and with a CPU hog on one core, "
        "interleaved (the engine's thread governor on, and off for comparison)",
    )
    p.add_argument(
        "--quality",
        action="store_true",
        help="quality of every precision vs fp32 on a trained (peaked) GPT-2 small over "
        ">= 2000 held-out positions (trains and caches it first: ~30 min on 2 cores)",
    )
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # --isolated's child
    p.add_argument("--seed", type=int, default=1, help="sampling seed of round 0")
    p.add_argument("--json", type=Path, default=None, help="also write results to this file")
    p.add_argument(
        "--app",
        action="store_true",
        help="measure the app instead: first paint, model ready time, RSS",
    )
    p.add_argument(
        "--hf-cache-layout",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the model as Hugging Face cache entry 'gpt2' under DIR (HF_HOME=DIR) and exit",
    )
    args = p.parse_args(argv)
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    if not loads or any(x not in ("quiet", "cpu", "mem") for x in loads):
        p.error("--loads takes quiet, cpu and mem, comma-separated")
    if loads != ["quiet"] and not args.isolated:
        p.error("--loads needs --isolated (each way in its own process, beside the load)")
    args.loads = loads
    args.model = args.model or ("tiny" if args.quick else "small")
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def _quiet() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _quiet()
    tokenizer_dir = models.resolve_tokenizer(args.tokenizer)
    log = lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True)  # noqa: E731
    log(f"building or loading the {args.model} model in {args.models_dir}")
    model_dir = models.build_model(models.SPECS[args.model], args.models_dir, tokenizer_dir)
    if args.hf_cache_layout:
        snap = models.write_hf_cache_layout(model_dir, args.hf_cache_layout)
        print(
            f"wrote {snap}\nuse: HF_HOME={args.hf_cache_layout} HF_HUB_OFFLINE=1 "
            "writer generate --model gpt2 'Once upon a time'"
        )
        return 0
    if args.app:
        from bench import app_metrics

        return app_metrics.main(model_dir, args)
    if args.loops:
        from bench import loops

        return loops.main(model_dir, args, log)
    if args.context_cache:
        from bench import context_cache

        return context_cache.main(model_dir, args, log)
    if args.quality:
        from bench import cpu_quality

        return cpu_quality.main(args, tokenizer_dir, log)
    if args.hog:
        from bench import hog

        return hog.main(args, model_dir, log)
    if args.worker:
        from bench.isolated import run_worker

        return run_worker(args, model_dir)
    return run_benchmark(args, model_dir, log)


def run_benchmark(args: argparse.Namespace, model_dir: Path, log: Any) -> int:
    import torch
    from transformers import AutoTokenizer

    from writer.engine.loading import default_threads

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    wanted = {w.strip() for w in args.workloads.split(",")}
    all_workloads = make_workloads(tokenizer, quick=args.quick)
    by_name = {w.name: w for w in all_workloads}
    workloads = [w for w in all_workloads if w.name in wanted]
    skipped: list[str] = []
    if args.no_ct2:
        skipped.append("CTranslate2 skipped (--no-ct2)")
    elif models.build_ct2(model_dir) is None:
        skipped.append("CTranslate2 not installed (pip install -e '.[bench]'); ct2 skipped")
        args.no_ct2 = True
    names = way_names(args)
    extras: dict[str, Any] = {}
    engines: dict[str, Any] = {}
    if args.isolated:
        log("every way in its own process: " + ", ".join(names))
        from bench.isolated import isolated_rounds

        measurements, extras = isolated_rounds(args, model_dir, names, log)
        if args.loads != ["quiet"]:
            names = [f"{n}@{load}" for load in args.loads for n in names]
    else:
        log("loading the engine(s), the plain model and CTranslate2")
        runners = {name: make_runner(name, args, model_dir, tokenizer, by_name) for name in names}
        engines = {n: r.engine for n, r in runners.items() if hasattr(r, "engine")}
        measurements = _interleaved_rounds(args, runners, workloads, by_name, log)

    quality = []
    if engines and len(args.precision) > 0:
        from writer.engine import load_engine

        reference = load_engine(str(model_dir), device="cpu", precision="fp32", threads=threads)
        held = heldout_ids(tokenizer, 96 if args.quick else 384)
        for engine in engines.values():
            if engine.precision != "fp32":
                quality.append(compare(reference, engine, held, engine.precision))
    precisions = {n: e.precision for n, e in engines.items()}
    precisions.update({n: x[0]["precision"] for n, x in extras.items() if x[0]["precision"]})
    return _report(
        args,
        model_dir,
        threads,
        measurements,
        workloads,
        names,
        by_name,
        quality,
        skipped,
        precisions,
        extras,
    )


def _interleaved_rounds(
    args: argparse.Namespace, runners: dict[str, Any], workloads: list, by_name: dict, log: Any
) -> list[ways.Measurement]:
    names = list(runners)
    log("warming up every way once")
    for name in names:
        runners[name](by_name["W2"], args.seed)

    measurements: list[ways.Measurement] = []
    for round_ in range(args.repeat):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for wl in workloads:
            for name in order:
                m = runners[name](wl, args.seed + round_)
                measurements.append(m)
                log(
                    f"round {round_ + 1}/{args.repeat} {wl.name} {name}: wall {m.wall_s:.3f}s "
                    f"first {m.first_token_s:.3f}s"
                )

    return measurements


def _report(
    args: argparse.Namespace,
    model_dir: Path,
    threads: int,
    measurements: list[ways.Measurement],
    workloads: list,
    names: list[str],
    by_name: dict,
    quality: list,
    skipped: list[str],
    precisions: dict[str, str],
    extras: dict[str, Any],
) -> int:
    summary = report.summarise(measurements)
    w1 = len(by_name["W1"].prompt_ids)
    check_lines = report.checks(summary, prompt_ratio=len(by_name["W3"].prompt_ids) / w1)
    if args.quick:
        check_lines = [f"{c}  [quick run: not meaningful]" for c in check_lines]
    machine = report.machine_note(threads)
    setup = {
        "model": f"{model_dir.name} ({args.model})",
        "repeat": args.repeat,
        "isolated": args.isolated,
        "precisions": precisions,
        "processes": extras,
    }
    print(report.markdown(summary, workloads, names, machine, setup, check_lines, quality, skipped))
    if args.loads != ["quiet"]:
        print(report.contention(summary, args.loads))
    if args.json:
        data = {
            "machine": machine,
            "setup": setup,
            "skipped": skipped,
            "summary": [{"workload": k[0], "way": k[1], **v} for k, v in summary.items()],
            "checks": check_lines,
            "quality": [q.__dict__ for q in quality],
            "measurements": [m.to_dict() for m in measurements],
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
