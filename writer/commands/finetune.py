"""`writer finetune FILES_OR_DIRS... --name NAME`: teach a model the author's style.

The engine (writer.training.finetune) does the work; this module parses flags, draws the progress
bar on stderr, turns Ctrl+C into "save a checkpoint and stop" and prints the before/after report.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from typing import Any

from writer.commands import MAX_TOKENS_FLAG, device_type, int_range, seed_type
from writer.errors import UsageError, WriterError

HELP = "fine-tune a model on your own .txt/.md files (LoRA or full)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer finetune`."""
    p = subparsers.add_parser(
        "finetune",
        help=HELP,
        description=(
            HELP + ". Folders are searched recursively; the last tenth of the text is held out to "
            "measure perplexity before and after. Ctrl+C saves a checkpoint; --resume continues "
            "it exactly."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS", help="text files or folders")
    p.add_argument("--name", required=True, help="name to save the model as (use with --model)")
    p.add_argument("--base", help="model to start from: hub id or local folder (default: gpt2)")
    p.add_argument(
        "--method",
        choices=("auto", "lora", "full"),
        help="lora (small adapter) or full (whole model); default auto: LoRA from 50M "
        "parameters (GPT-2 small and up), full for smaller models",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=float, help="passes over the text (default 3, >= 100 steps)"
    )
    length.add_argument("--steps", type=int, help="optimizer steps (instead of --epochs)")
    p.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default: 1e-3 LoRA, 1e-4 full; 1e-3 full below 50M params)",
    )
    p.add_argument(
        "--block-size",
        type=int_range(8, MAX_TOKENS_FLAG),
        help="tokens per training sequence (default 256, smaller for short texts)",
    )
    p.add_argument("--batch-size", type=int, help="sequences per optimizer step (default 8)")
    p.add_argument(
        "--micro-batch-size",
        type=int,
        help="sequences per forward pass; the rest is gradient accumulation (default 2)",
    )
    p.add_argument("--seed", type=seed_type, help="random seed (default 0)")
    p.add_argument("--holdout", type=float, help="fraction of text held out (default 0.1)")
    p.add_argument("--lora-r", type=int, help="LoRA rank (default 8)")
    p.add_argument("--lora-alpha", type=int, help="LoRA alpha (default 16)")
    p.add_argument("--prompt", help="prompt for the before/after samples (default: held-out text)")
    p.add_argument(
        "--no-continuations",
        action="store_true",
        help="skip the continuation metrics (BLEU, chrF, ...) of the before/after report",
    )
    p.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train in bfloat16 autocast (default: on where the CPU has avx512_bf16 or "
        "amx_bf16, and on GPUs with bf16; --no-bf16 trains in float32)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of --name")
    p.add_argument("--overwrite", action="store_true", help="replace a model with this name")
    # Test hook: behave as if Ctrl+C came after K steps (deterministic, unlike a real signal).
    p.add_argument("--stop-after-steps", type=int, help=argparse.SUPPRESS)
    return p


class _StopOnSigint:
    """First Ctrl+C asks training to stop at a safe point; a second one aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopOnSigint:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no signal handling, Ctrl+C as usual
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nwriter: stopping after this step to save a checkpoint...", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _quiet_libraries() -> None:
    """Hide transformers' own progress bars and notices: our bar and report are the output."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")


def run(args: argparse.Namespace) -> int:
    """Train, then print perplexity before/after and one sample from each model."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from writer.training.finetune import (
        FinetuneInterrupted,
        FinetuneOptions,
        TrainingProgress,
        finetune,
        validate_options,
    )

    options = FinetuneOptions(
        name=args.name,
        base=args.base,
        method=args.method,
        steps=args.steps,
        epochs=args.epochs,
        lr=args.lr,
        block_size=args.block_size,
        batch_size=args.batch_size,
        micro_batch_size=args.micro_batch_size,
        seed=args.seed,
        holdout=args.holdout,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        prompt=args.prompt,
        device=args.device,
        bf16=args.bf16,
    )
    try:
        validate_options(options)  # fail on a bad name or value before loading torch
    except WriterError as exc:  # a flag's value: a usage error (exit 2), as argparse's are
        raise UsageError(f"{exc} (see `writer finetune --help`)") from None
    if args.stop_after_steps is not None and args.stop_after_steps < 1:
        raise UsageError("--stop-after-steps must be at least 1")
    _quiet_libraries()
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]} tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
    )
    task: list[Any] = []

    def on_status(text: str) -> None:
        progress.console.print(f"[dim]{text}[/dim]", highlight=False)

    def on_progress(p: TrainingProgress) -> None:
        if not task:  # started on the first step, so an early error stays one line
            progress.start()
            task.append(
                progress.add_task("step", total=p.total_steps, completed=0, loss="-", rate="-")
            )
        progress.update(
            task[0],
            completed=p.step,
            total=p.total_steps,
            loss=f"{p.loss:.3f}",
            rate=f"{p.tokens_per_s:,.0f}",
        )

    with _StopOnSigint() as sigint:
        try:
            result = finetune(
                args.paths,
                options,
                resume=args.resume,
                overwrite=args.overwrite,
                on_status=on_status,
                on_progress=on_progress,
                should_stop=lambda: sigint.requested,
                stop_after_steps=args.stop_after_steps,
            )
        except FinetuneInterrupted as stop:
            interrupted = stop
        else:
            interrupted = None
        finally:
            if task:  # Progress.stop prints a blank line when it never started
                progress.stop()
    if interrupted is not None:
        if interrupted.checkpoint is None:
            print(f"writer: {interrupted}", file=sys.stderr)
        else:
            print(
                f"writer: interrupted at step {interrupted.step}/{interrupted.total_steps}; "
                f"checkpoint saved. Continue with: writer finetune {_quote(args.paths)} "
                f"--name {args.name} --resume",
                file=sys.stderr,
            )
        return 130

    m = result.manifest
    print(f"saved {m['method']} fine-tune {result.name!r} to {result.folder}")
    print(
        f"steps: {m['steps']}  tokens: {m['train_tokens']} train / {m['holdout_tokens']} "
        f"held out  time: {m['train_seconds']:.0f} s"
    )
    print(f"held-out perplexity before: {result.perplexity_before:.2f}")
    print(f"held-out perplexity after:  {result.perplexity_after:.2f}")
    print(f"prompt (seed {m['seed']}): {result.prompt}")
    print(f"before: {_one_line(result.sample_before)}")
    print(f"after:  {_one_line(result.sample_after)}")
    print(
        f"use it with: writer --model {result.name}; the after sample again: writer generate "
        f"{shlex.quote(result.prompt)} --model {result.name} --seed {m['seed']} -n 1 "
        "--max-new-tokens 40 --stop none --preset balanced"
    )
    if not args.no_continuations:
        from writer.commands.evaluate import finetune_report

        sys.stdout.flush()
        for line in finetune_report(args.paths, m["base"], result.name, m, args.device):
            print(line)
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quote(paths: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)
