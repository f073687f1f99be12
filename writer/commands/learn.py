"""`writer learn --name NAME`: teach a model which candidates the author prefers (DPO).

The pairs come from the generation log of `--draft ID ...` or `--all-drafts` (which also takes
every blind judgment of `writer compare`) and from `--pairs FILE.jsonl`; the training is
writer.training.learn. This module parses flags, draws the progress bar on stderr, turns Ctrl+C
into "save a checkpoint and stop", and prints the before/after report (`--json`: one object).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from writer.commands import device_type, seed_type
from writer.errors import UsageError, WriterError

HELP = "learn your taste from the candidates you picked (DPO on preference pairs)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer learn`."""
    p = subparsers.add_parser(
        "learn",
        help=HELP,
        description=(
            HELP + ". Each inserted candidate is preferred to the ones passed over in the same "
            "request; a share of the pairs is held out to measure preference accuracy, reward "
            "margin, KL to the base and perplexity before and after. Ctrl+C saves a "
            "checkpoint; --resume continues it."
        ),
    )
    p.add_argument("--name", required=True, help="name to save the model as (use with --model)")
    p.add_argument("--base", help="model to start from: hub id, folder or fine-tune (default gpt2)")
    p.add_argument("--method", choices=("auto", "lora", "full"), help="as in `writer finetune`")
    p.add_argument(
        "--draft", type=int, action="append", metavar="ID", help="a draft's picks (repeatable)"
    )
    p.add_argument(
        "--all-drafts",
        action="store_true",
        help="every draft's picks and every `writer compare` judgment",
    )
    p.add_argument("--pairs", metavar="FILE.jsonl", help='{"prompt","chosen","rejected"} lines')
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the pairs (default 3)")
    length.add_argument("--steps", type=int, help="optimizer steps (instead of --epochs)")
    p.add_argument("--beta", type=float, help="DPO beta: how far from the base (default 0.1)")
    p.add_argument(
        "--lr", type=float, help="learning rate (default 5e-4 LoRA, 5e-6 full; 3e-4 tiny models)"
    )
    p.add_argument(
        "--sft-weight",
        type=float,
        metavar="W",
        help="weight of the chosen text's NLL added to the DPO loss: holds the model near your "
        "own text (default 1; 0: plain DPO)",
    )
    p.add_argument("--batch-size", type=int, help="pairs per optimizer step (default 8)")
    p.add_argument("--holdout", type=float, help="fraction of pairs held out (default 0.1)")
    p.add_argument("--seed", type=seed_type, help="random seed (default 0)")
    p.add_argument("--lora-r", type=int, help="LoRA rank (default 8)")
    p.add_argument("--lora-alpha", type=int, help="LoRA alpha (default 16)")
    p.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of --name")
    p.add_argument("--overwrite", action="store_true", help="replace a model with this name")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    # Test hook: behave as if Ctrl+C came after K steps (deterministic, unlike a real signal).
    p.add_argument("--stop-after-steps", type=int, help=argparse.SUPPRESS)
    return p


def collect_pairs(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """(pairs, counts) from the sources the flags name."""
    from writer.training.pairs import (
        PairCounts,
        pairs_from_judgments,
        pairs_from_log,
        read_pairs_file,
    )

    counts = PairCounts()
    pairs = []
    if args.draft or args.all_drafts:
        from writer.store import DraftStore

        with DraftStore.open() as store:
            ids = args.draft or [d.id for d in store.list_drafts()]
            for draft_id in ids:
                store.get_draft(draft_id)  # an unknown ID: one line, before any work
            pairs.extend(pairs_from_log(store, ids, counts))
            if args.all_drafts:
                pairs.extend(pairs_from_judgments(store, counts))
    if args.pairs:
        pairs.extend(read_pairs_file(args.pairs, counts))
    return pairs, counts


def run(args: argparse.Namespace) -> int:
    """Collect pairs, learn, print the report."""
    from writer.training.learn import LearnInterrupted, LearnOptions, learn, validate_options

    if not (args.draft or args.all_drafts or args.pairs):
        raise UsageError("give --draft ID, --all-drafts or --pairs FILE.jsonl (see --help)")
    if args.draft and args.all_drafts:
        raise UsageError("give --draft or --all-drafts, not both")
    options = LearnOptions(
        name=args.name,
        base=args.base,
        method=args.method,
        steps=args.steps,
        epochs=args.epochs,
        beta=args.beta,
        lr=args.lr,
        holdout=args.holdout,
        batch_size=args.batch_size,
        seed=args.seed,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        device=args.device,
        sft_weight=args.sft_weight,
    )
    try:
        validate_options(options)
    except WriterError as exc:
        raise UsageError(f"{exc} (see `writer learn --help`)") from None
    if args.stop_after_steps is not None and args.stop_after_steps < 1:
        raise UsageError("--stop-after-steps must be at least 1")
    from writer.training.dpo import require_trl

    require_trl()
    pairs, counts = collect_pairs(args)
    from writer.commands.finetune import _quiet_libraries, _StopOnSigint

    _quiet_libraries()
    _quiet_training()
    progress, on_progress, started = _progress_bar()

    def on_status(text: str) -> None:
        progress.console.print(f"[dim]{text}[/dim]", highlight=False)

    with _StopOnSigint() as sigint:
        try:
            result = learn(
                pairs,
                options,
                counts=counts,
                resume=args.resume,
                overwrite=args.overwrite,
                on_status=on_status,
                on_progress=on_progress,
                should_stop=lambda: sigint.requested,
                stop_after_steps=args.stop_after_steps,
            )
        except LearnInterrupted as stop:
            interrupted: LearnInterrupted | None = stop
        else:
            interrupted = None
        finally:
            if started:
                progress.stop()
    if interrupted is not None:
        print(
            f"writer: interrupted at step {interrupted.step}/{interrupted.total_steps}; "
            f"checkpoint saved. Continue with the same sources and --name {args.name} --resume",
            file=sys.stderr,
        )
        return 130
    report = result.report
    if args.json:
        print(json.dumps(report))
        return 0
    for line in report_lines(report, str(result.folder)):
        print(line)
    return 0


def report_lines(report: dict[str, Any], folder: str) -> list[str]:
    """The report as text: where the pairs came from, then before/after on held-out pairs."""
    pairs = report["pairs"]
    before, after = report["before"], report["after"]
    sources = [
        f"{pairs['from_log']} from your picks",
        f"{pairs['from_compare']} from comparisons",
        f"{pairs['from_file']} from the file",
    ]
    lines = [
        f"saved {report['method']} model {report['name']!r} (DPO) to {folder}",
        f"pairs: {', '.join(sources)}; {pairs['train']} trained on, {pairs['held_out']} held out",
    ]
    if pairs["requests"]:
        lines.append(
            f"picks: {pairs['requests']} insertion(s), {pairs['deleted']} left out (deleted "
            f"later), {pairs['rebuilt']} pair(s) with a prompt rebuilt from the draft"
        )
    lines.append(
        f"steps: {report['steps']}  beta: {report['beta']:g}  lr: {report['lr']:g}  "
        f"NLL weight: {report.get('sft_weight', 0):g}"
    )
    lines.append(f"{'held out':<24}{'before':>10}{'after':>10}")
    for key, label, fmt in (
        ("accuracy", "preference accuracy", "{:.0%}"),
        ("reward_margin", "reward margin", "{:.3f}"),
        ("kl_to_base", "KL to base (nats/tok)", "{:.3g}"),
        ("perplexity", "perplexity of picks", "{:.2f}"),
    ):
        lines.append(f"{label:<24}{fmt.format(before[key]):>10}{fmt.format(after[key]):>10}")
    if before.get("own_text_perplexity") is not None:  # absent from older checkpoints
        ppl = before["own_text_perplexity"], after["own_text_perplexity"]
        lines.append(f"{'perplexity of your text':<24}{ppl[0]:>10.2f}{ppl[1]:>10.2f}")
        lines.append(f"  (on {after['own_text']}: {after['own_text_tokens']} tokens)")
    lines.append(f"use it with: writer --model {report['name']}")
    return lines


def _quiet_training() -> None:
    """Hide the Trainer's and TRL's notices: the bar and the report are the output."""
    import logging
    import warnings

    for name in ("trl", "transformers.trainer", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    from datasets.utils.logging import disable_progress_bar
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bar()
    disable_progress_bars()


def _progress_bar() -> tuple[Any, Any, list[Any]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("acc {task.fields[acc]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task: list[Any] = []

    def on_progress(p: Any) -> None:
        if not task:  # started on the first step, so an early error stays one line
            progress.start()
            task.append(progress.add_task("step", total=p.total_steps, loss="-", acc="-"))
        progress.update(
            task[0],
            completed=p.step,
            total=p.total_steps,
            loss=f"{p.loss:.3f}",
            acc=f"{p.accuracy:.0%}",
        )

    return progress, on_progress, task
