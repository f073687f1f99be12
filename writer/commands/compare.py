"""`writer compare FILES --a X --b Y`: blind human comparison of two models or presets.

X and Y are each a preset name (with --model's model), a model (with --preset's preset), or
MODEL@PRESET. The models load and the passages are cut before the screen opens, so an unknown
model or preset, or a text too short, is one `writer: error:` line.
"""

from __future__ import annotations

import argparse
from typing import Any

from writer.commands import MAX_TOKENS_FLAG, device_type, int_range, seed_type
from writer.errors import UsageError, WriterError

HELP = "judge two models or presets blind on your own text (A/B, win rate with a 95% interval)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer compare`."""
    from writer.ui.screens.compare import DEFAULT_ITEMS, DEFAULT_LENGTH, DEFAULT_WINDOW

    p = subparsers.add_parser(
        "compare",
        help=HELP,
        description=HELP + ". Shows the end of a passage of your text and two continuations in "
        "random, hidden order; 1 / 2 picks the better, t = tie, x = both bad, s = summary. "
        "Running the same command again resumes an unfinished session.",
    )
    p.add_argument("paths", nargs="*", metavar="FILES_OR_DIRS", help="text to take passages from")
    p.add_argument("--a", required=True, metavar="MODEL_OR_PRESET", help="contender A")
    p.add_argument("--b", required=True, metavar="MODEL_OR_PRESET", help="contender B")
    p.add_argument("--model", help="the model for a side given as a preset (default: config)")
    p.add_argument("--preset", help="the preset for a side given as a model (default: config)")
    p.add_argument(
        "--items",
        type=int_range(1, 10_000),
        default=DEFAULT_ITEMS,
        help=f"passages (default {DEFAULT_ITEMS})",
    )
    p.add_argument(
        "--window",
        type=int_range(1, MAX_TOKENS_FLAG),
        help=f"passage tokens (default {DEFAULT_WINDOW}, less if the model's context is short)",
    )
    p.add_argument(
        "--length",
        type=int_range(1, MAX_TOKENS_FLAG),
        default=DEFAULT_LENGTH,
        help=f"continuation tokens (default {DEFAULT_LENGTH})",
    )
    p.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help="take passages only from the last FRACTION of the text (what finetune held out)",
    )
    p.add_argument("--seed", type=seed_type, help="seed of a new session (default: random)")
    p.add_argument("--new", action="store_true", help="start a new session, do not resume")
    p.add_argument(
        "--summary", action="store_true", help="print the summary of A against B and exit"
    )
    p.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    return p


def resolve_side(spec: str, model: str, preset: str) -> Any:
    """MODEL@PRESET, a preset name (with `model`), or a model (with `preset`).

    The side's spec is always the canonical MODEL@PRESET, so `--a gpt2` and `--a gpt2@balanced`
    are the same contender (one session, one summary) and a preset change is a new contender.
    """
    from writer.presets import all_presets, get_preset
    from writer.ui.screens.compare import Side

    spec = spec.strip()
    if not spec:
        raise UsageError("--a/--b must name a model or a preset")
    if "@" in spec:
        name, _, preset_name = spec.rpartition("@")
        get_preset(preset_name)  # unknown: one line listing the presets
        return Side.of(name, preset_name)
    if spec in all_presets():
        return Side.of(model, spec)
    return Side.of(spec, preset)


def _check_model(name: str) -> None:
    """Fail early on a model that cannot be found (the loaders say how to fix it)."""
    from writer.engine.models import resolve_model

    resolve_model(name)


def _check_terminal() -> None:
    """The judging screen needs a terminal on both ends: without one it would draw into a pipe
    and wait for keys that never come."""
    import sys

    try:
        ok = sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
    except (ValueError, OSError):
        ok = False
    if not ok:
        raise UsageError(
            "writer compare shows its judging screen at a terminal; run it in one (standard "
            "input and output), or use --summary to print the results so far"
        )


def run(args: argparse.Namespace) -> int:
    """Open the comparison screen (or print the summary)."""
    from writer.config import load_config
    from writer.presets import get_preset
    from writer.store import DraftStore

    config = load_config()
    a = resolve_side(args.a, args.model or config.model, args.preset or config.preset)
    b = resolve_side(args.b, args.model or config.model, args.preset or config.preset)
    for preset in {a.preset, b.preset, args.preset or a.preset}:
        get_preset(preset)  # an unknown --preset: one line listing the presets
    if a == b:
        raise UsageError(f"--a and --b are the same ({a.model} with {a.preset}); compare two")
    if args.summary:
        with DraftStore.open() as store:
            summary = store.judgments.summary(a.spec, b.spec)
        if not summary.judgments:
            raise WriterError(
                f"no judgments of {a.spec} against {b.spec} yet; run `writer compare FILES "
                f"--a {a.spec} --b {b.spec}` to make some"
            )
        print("\n".join(summary.lines()))
        return 0
    if args.holdout is not None and not 0 < args.holdout < 1:
        raise UsageError(f"--holdout must be between 0 and 1; got {args.holdout}")
    if not args.paths:
        raise UsageError("give the text files or folders to take passages from")
    from writer.training.corpus import read_corpus
    from writer.ui.screens.compare import CompareApp, ComparePlan, prepare

    corpus = read_corpus(args.paths)
    for side in (a, b):
        _check_model(side.model)
    plan = ComparePlan(
        a,
        b,
        corpus.texts,
        source=", ".join(str(f) for f in corpus.files),
        window=args.window,
        length=args.length,
        items=args.items,
        seed=args.seed,
        new=args.new,
        device=args.device,
        holdout=args.holdout,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with DraftStore.open() as store:
        log = store.judgments
        plan.prepared = prepare(plan, log)
        c = plan.prepared.comparison
        if plan.prepared.resumed:
            print(f"writer: resuming comparison {c.id} ({len(c.judged)} of {c.items} judged)")
        _check_terminal()  # after the checks of the text and models, which need none
        summary = CompareApp(plan, log).run()
        if summary is None:
            summary = log.summary(a.spec, b.spec)
    print("\n".join(summary.lines()))
    return 0
