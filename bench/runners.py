"""The ways bench.run times, loaded by name: writer's engine (in each precision, with every
sampler, with token probabilities), plain `model.generate`, and CTranslate2 int8.
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path
from typing import Any

from bench import models, ways


def way_names(args: argparse.Namespace) -> list[str]:
    """engine (default precision), engine-P per --precision, plain, ct2: as asked."""
    names = ["engine"] + [f"engine-{p}" for p in args.precision]
    if args.steer:
        names.append("engine-steer")
    if args.logprobs is not None:
        names.append("engine-logprobs")
    if not args.no_plain:
        names.append("plain")
    if not args.no_ct2:
        names.append("ct2")
    return names


def make_runner(
    name: str, args: argparse.Namespace, model_dir: Path, tokenizer: Any, by_name: dict
) -> Any:
    """Load way `name`; return a callable (workload, seed) -> Measurement, or None (no ct2)."""
    import torch

    from writer.engine import load_engine

    threads = torch.get_num_threads()
    if name == "engine-steer":  # the default precision with every steering sampler on
        engine = load_engine(str(model_dir), device="cpu", threads=threads)
        run = _engine_runner(engine, name, by_name, steer=True)
        run.engine = engine  # type: ignore[attr-defined]
        return run
    if name == "engine-logprobs":  # the default precision, recording per-token probabilities
        engine = load_engine(str(model_dir), device="cpu", threads=threads)
        run = _engine_runner(engine, name, by_name, logprobs=args.logprobs)
        run.engine = engine  # type: ignore[attr-defined]
        return run
    if name.startswith("engine"):
        precision = name.partition("-")[2] or "auto"
        engine = load_engine(str(model_dir), device="cpu", precision=precision, threads=threads)
        run = _engine_runner(engine, name, by_name)
        run.engine = engine  # type: ignore[attr-defined]
        return run
    if name == "plain":
        from transformers import GPT2LMHeadModel

        plain = GPT2LMHeadModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()
        return lambda wl, seed: ways.run_plain(plain, tokenizer, wl, seed)
    ct2_dir = models.build_ct2(model_dir)
    if ct2_dir is None:
        return None
    import ctranslate2

    def load_ct2() -> Any:
        return ctranslate2.Generator(
            str(ct2_dir), device="cpu", compute_type="int8", intra_threads=threads, inter_threads=1
        )

    if args.ct2_resident or args.worker:
        gen = load_ct2()
        return lambda wl, seed: ways.run_ct2(gen, tokenizer, wl, seed)

    # Measured here: a CTranslate2 Generator that has run once slows every other torch
    # computation in the process by 15-25% for as long as it lives (its own threads use no CPU
    # meanwhile; deleting it restores the speed). So by default each ct2 run gets a fresh
    # Generator (loading is not timed) that is gone again before the next way runs;
    # --ct2-resident keeps one alive throughout, --isolated gives each way its own process.
    def ct2_isolated(wl: Any, seed: int) -> Any:
        gen = load_ct2()
        try:
            return ways.run_ct2(gen, tokenizer, wl, seed)
        finally:
            del gen
            gc.collect()

    return ct2_isolated


def _engine_runner(
    engine: Any,
    name: str,
    by_name: dict[str, Any],
    steer: bool = False,
    logprobs: int | None = None,
) -> Any:
    """A callable timing `engine` on a workload: cold (cache cleared) or warm (W4 after W1)."""

    def run(wl: Any, seed: int) -> ways.Measurement:
        engine.clear_cache()
        if wl.warm_from:  # untimed: warms
            ways.run_engine(engine, by_name[wl.warm_from], seed, name, steer, logprobs)
        return ways.run_engine(engine, wl, seed, way=name, steer=steer, logprobs=logprobs)

    return run
