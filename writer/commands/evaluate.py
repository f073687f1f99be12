"""`writer eval FILES_OR_DIRS... --model M [--continuations]`: how well models fit the text.

Without --continuations: perplexity. With it: continuation metrics (BLEU, chrF, ROUGE-L,
diversity, loops, the log-probability of the true text) per model and preset, side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from writer.commands import MAX_TOKENS_FLAG, device_type, int_range, seed_type
from writer.engine.types import MAX_CANDIDATES
from writer.errors import UsageError, WriterError

HELP = "measure models on .txt/.md files: perplexity, or continuation metrics (--continuations)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer eval`."""
    from writer.training.evaluate import (
        DEFAULT_CANDIDATES,
        DEFAULT_LENGTH,
        DEFAULT_SAMPLES,
        DEFAULT_WINDOW,
    )

    p = subparsers.add_parser(
        "eval",
        help=HELP,
        description=HELP
        + ". Long texts are scored with a sliding window: each token is predicted from up to "
        "--block-size tokens of context, windows advancing by --stride. --continuations takes "
        "prompt/continuation pairs from the text, generates candidates and compares them with "
        "the true continuation.",
    )
    p.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS", help="text files or folders")
    p.add_argument(
        "--model",
        action="append",
        help="hub id, local folder or fine-tuned model name (default gpt2); repeat to compare",
    )
    p.add_argument("--block-size", type=int, help="window length (default: the model's context)")
    p.add_argument("--stride", type=int, help="window step (default: half the block size)")
    p.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    p.add_argument(
        "--holdout",
        type=float,
        metavar="FRACTION",
        help="use only the last FRACTION of the text, the part `writer finetune` holds out",
    )
    c = p.add_argument_group("continuation metrics")
    c.add_argument(
        "--continuations",
        action="store_true",
        help="BLEU, chrF, ROUGE-L, distinct-1/2, self-BLEU, repeated 4-grams, true log-prob",
    )
    c.add_argument(
        "--preset",
        action="append",
        help="creativity preset to sample with (default: config's); repeat to compare",
    )
    c.add_argument(
        "--samples",
        type=int_range(1, 10_000),
        default=DEFAULT_SAMPLES,
        help=f"prompt/continuation pairs (default {DEFAULT_SAMPLES})",
    )
    c.add_argument(
        "--window",
        type=int_range(1, MAX_TOKENS_FLAG),
        default=DEFAULT_WINDOW,
        help=f"prompt tokens per pair (default {DEFAULT_WINDOW})",
    )
    c.add_argument(
        "--length",
        type=int_range(1, MAX_TOKENS_FLAG),
        default=DEFAULT_LENGTH,
        help=f"true continuation tokens per pair, and tokens generated (default {DEFAULT_LENGTH})",
    )
    c.add_argument(
        "-n",
        type=int_range(1, MAX_CANDIDATES),
        default=DEFAULT_CANDIDATES,
        dest="candidates",
        metavar="N",
        help=f"candidates per prompt (default {DEFAULT_CANDIDATES})",
    )
    c.add_argument(
        "--seed", type=seed_type, default=0, help="seed of the first candidate (default 0)"
    )
    c.add_argument("--json", action="store_true", help='print {"rows": [...]} as JSON')
    return p


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _token_stream(tokenizer: Any, texts: list[str], holdout: float | None) -> list[int]:
    from writer.training.corpus import encode_documents, split_holdout

    ids = encode_documents(tokenizer, texts)
    if holdout is not None:
        _train, ids = split_holdout(ids, holdout)
    return ids


def run(args: argparse.Namespace) -> int:
    """Print perplexity, or the continuation-metrics table."""
    from writer.engine.models import DEFAULT_MODEL
    from writer.training.corpus import read_corpus

    if args.holdout is not None and not 0 < args.holdout < 1:
        raise UsageError(f"--holdout must be between 0 and 1; got {args.holdout}")
    if not args.continuations:
        for flag in ("preset", "json"):
            if getattr(args, flag):
                raise UsageError(f"--{flag} applies to --continuations; add it or drop --{flag}")
    if args.model and any(not name.strip() for name in args.model):
        raise UsageError("--model is empty; give a hub id such as gpt2, a folder or a fine-tune")
    models = list(dict.fromkeys(args.model or [DEFAULT_MODEL]))
    corpus = read_corpus(args.paths, use="evaluate")  # bad paths fail before a model loads
    if args.continuations:
        return _run_continuations(args, models, corpus.texts)
    from writer.engine.models import load_model_and_tokenizer
    from writer.training.evaluate import check_window, perplexity

    _quiet()
    for name in models:
        model, tokenizer, _source = load_model_and_tokenizer(name, device=args.device)
        try:
            block, stride = check_window(model, args.block_size, args.stride)
        except WriterError as exc:  # --block-size / --stride out of range: a usage error
            raise UsageError(f"{exc} (see `writer eval --help`)") from None
        ids = _token_stream(tokenizer, corpus.texts, args.holdout)
        result = perplexity(model, ids, block, stride)
        if not math.isfinite(result.perplexity):
            raise WriterError(
                f"model {name!r} gives a perplexity of {result.perplexity} on this text (its "
                "probabilities overflow); it is not usable: use or fine-tune another model"
            )
        if len(models) > 1:
            print(f"model: {name}")
        print(f"perplexity: {result.perplexity:.4f}")
        print(
            f"tokens: {result.tokens} (in {len(corpus.files)} file(s); block {block}, "
            f"stride {stride})"
        )
    return 0


def _presets(names: list[str] | None) -> list[tuple[str, Any]]:
    from writer.config import load_config
    from writer.presets import get_preset

    chosen = names or [load_config().preset]
    return [(name, get_preset(name)) for name in dict.fromkeys(chosen)]


def _run_continuations(args: argparse.Namespace, models: list[str], texts: list[str]) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from writer.training.evaluate import check_pair_sizes

    if args.block_size is not None or args.stride is not None:
        raise UsageError("--block-size/--stride are for perplexity; drop them with --continuations")
    check_pair_sizes(args.window, args.length, args.samples, args.candidates)
    presets = _presets(args.preset)  # unknown presets fail before a model loads
    models = list(dict.fromkeys(models))
    _quiet()
    from writer.engine import load_engine
    from writer.training.evaluate import evaluate_continuations, make_pairs

    err = Console(stderr=True)
    rows: list[Any] = []
    samples = 0
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("loading", total=None)
        for number, name in enumerate(models, 1):
            progress.update(task, description=f"loading {name}")
            engine = load_engine(name, device=args.device)
            try:
                check_pair_sizes(
                    args.window, args.length, args.samples, args.candidates, engine.context_size
                )
            except WriterError as exc:  # flags too large for this model: a usage error
                raise UsageError(f"{exc} (see `writer eval --help`)") from None
            ids = _token_stream(engine.tokenizer, texts, args.holdout)
            pairs = make_pairs(engine.tokenizer, ids, args.window, args.length, args.samples)
            samples = len(pairs)
            steps = samples * (1 + len(presets))
            if number == 1:
                progress.update(task, total=steps * len(models), completed=0)
            progress.update(task, description=f"{name}")
            rows.extend(
                evaluate_continuations(
                    engine,
                    name,
                    pairs,
                    presets,
                    args.candidates,
                    args.seed,
                    on_progress=lambda: progress.advance(task),
                )
            )
            del engine
    settings = {
        "seed": args.seed,
        "window": args.window,
        "length": args.length,
        "candidates": args.candidates,
    }
    if args.json:
        print(json.dumps({"rows": [r.as_dict() for r in rows], **settings}))
        return 0
    _print_table(rows, settings, samples)
    return 0


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_table(rows: list[Any], settings: dict[str, int], samples: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="continuation metrics (higher is better, except self-BLEU and rep-4)")
    for column in ("model", "preset"):
        table.add_column(column)
    for column in (
        "BLEU",
        "chrF",
        "ROUGE-L",
        "distinct-1",
        "distinct-2",
        "self-BLEU",
        "rep-4",
        "true logprob",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.model,
            r.preset,
            _fmt(r.bleu),
            _fmt(r.chrf),
            _fmt(r.rouge_l),
            _fmt(r.distinct_1, 3),
            _fmt(r.distinct_2, 3),
            _fmt(r.self_bleu),
            _fmt(r.repeated_ngram_rate, 3),
            _fmt(r.true_logprob, 3),
        )
    console = Console(width=max(120, Console().width))
    console.print(table)
    print(
        f"samples: {samples} prompt/continuation pairs, {settings['window']}-token prompts, "
        f"{settings['length']}-token continuations, {settings['candidates']} candidates each; "
        f"seed {settings['seed']}"
    )
    sys.stdout.flush()


def finetune_report(
    paths: list[str],
    base: str,
    name: str,
    manifest: dict[str, Any],
    device: str | None,
) -> list[str]:
    """Continuation metrics of the base and the tuned model on the held-out part (the report
    lines `writer finetune` prints), and the `writer compare` command to judge them.

    Sizes are `writer eval`'s defaults, shrunk to fit the model's context and the held-out part.
    The model is saved by now, so a failure here is a report line, not an error exit.
    """
    try:
        return _finetune_report(paths, base, name, manifest, device)
    except WriterError as exc:
        return [f"continuation metrics: skipped ({exc})"]


def _finetune_report(
    paths: list[str],
    base: str,
    name: str,
    manifest: dict[str, Any],
    device: str | None,
) -> list[str]:
    import shlex

    from rich.console import Console

    from writer.engine import load_engine
    from writer.training.corpus import encode_documents, read_corpus
    from writer.training.evaluate import (
        DEFAULT_CANDIDATES,
        DEFAULT_LENGTH,
        DEFAULT_SAMPLES,
        DEFAULT_WINDOW,
        evaluate_continuations,
        make_pairs,
    )

    err = Console(stderr=True)
    corpus = read_corpus(paths)
    presets = _presets(None)
    quoted = " ".join(shlex.quote(p) for p in paths)
    holdout_tokens, seed = int(manifest["holdout_tokens"]), int(manifest["seed"])
    fraction = holdout_tokens / max(1, int(manifest["tokens"]))
    compare = (
        f"judge it yourself: writer compare {quoted} --a {shlex.quote(base)} --b {name} "
        f"--holdout {fraction:.3g}"
    )
    rows = []
    pairs: list[Any] = []
    window = length = 0
    for model_name in (base, name):
        err.print(f"[dim]continuation metrics of {model_name}[/dim]", highlight=False)
        engine = load_engine(model_name, device=device)
        held_out = encode_documents(engine.tokenizer, corpus.texts)[-holdout_tokens:]
        length = min(DEFAULT_LENGTH, engine.context_size // 4)
        longest = max(
            (len(run) for run in _runs(held_out, engine.tokenizer.eos_token_id)), default=0
        )
        window = min(DEFAULT_WINDOW, engine.context_size - length, longest - length)
        if window < 8:
            return [
                f"continuation metrics: skipped (the held-out part has {holdout_tokens} tokens; "
                f"pairs need {8 + length}); hold out more with --holdout or add text",
                compare,
            ]
        pairs = make_pairs(engine.tokenizer, held_out, window, length, DEFAULT_SAMPLES)
        # A short held-out part: shorter prompts (down to 32 tokens) for at least 8 pairs.
        while len(pairs) < 8 and window > 32:
            window = max(32, window // 2)
            pairs = make_pairs(engine.tokenizer, held_out, window, length, DEFAULT_SAMPLES)
        rows.extend(
            evaluate_continuations(engine, model_name, pairs, presets, DEFAULT_CANDIDATES, seed)
        )
        del engine
    lines = [
        f"continuation metrics on the held-out part ({len(pairs)} pairs, {window}-token prompts, "
        f"{length}-token continuations, {DEFAULT_CANDIDATES} candidates, preset "
        f"{presets[0][0]}, seed {seed}):",
        f"  {'':8} {'BLEU':>6} {'chrF':>6} {'ROUGE-L':>8} {'dist-2':>7} {'self-BLEU':>9} "
        f"{'rep-4':>6} {'true logprob':>12}",
    ]
    for label, r in zip(("before", "after"), rows, strict=True):
        lines.append(
            f"  {label:8} {_fmt(r.bleu):>6} {_fmt(r.chrf):>6} {_fmt(r.rouge_l):>8} "
            f"{_fmt(r.distinct_2, 3):>7} {_fmt(r.self_bleu):>9} "
            f"{_fmt(r.repeated_ngram_rate, 3):>6} {_fmt(r.true_logprob, 3):>12}"
        )
    lines.append(compare)
    return lines


def _runs(ids: list[int], eos: int | None) -> list[list[int]]:
    runs: list[list[int]] = [[]]
    for token in ids:
        if token == eos:
            runs.append([])
        else:
            runs[-1].append(token)
    return runs
