"""`writer generate`: candidates for a prompt, for scripting and data augmentation."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from writer.engine.types import MAX_CANDIDATES
from writer.errors import UsageError, WriterError
from writer.presets import SamplingParams, get_preset
from writer.textfiles import read_text_file

MODES = ("continue", "ideas")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate candidates for a prompt",
        description="Generate candidate continuations (or plot ideas) for a prompt. Explicit "
        "flags override the preset's values.",
    )
    p.add_argument("prompt", nargs="?", help="the prompt text ('-' reads standard input)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prompt-file", metavar="F", help="read the prompt from a UTF-8 file")
    src.add_argument(
        "--prompts",
        metavar="F.jsonl",
        help='a batch: one JSON per line, a string or {"prompt": ..., optional "mode", '
        '"n", "seed"}; prints one JSON result per line as each finishes',
    )
    p.add_argument("--model", help="hub id, local folder or fine-tuned name (default: config)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16 is faster on CPUs with bf16 support, slightly less exact",
    )
    p.add_argument("--preset", help="creativity preset (see `writer presets`)")
    p.add_argument("--mode", choices=MODES, default="continue")
    p.add_argument("-n", type=int, default=None, metavar="N", help="candidates (default 3)")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--no-repeat-ngram", type=int, dest="no_repeat_ngram_size")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--stop", help="none, sentence, paragraph, or a text to stop at")
    _add_steering_arguments(p)
    p.add_argument("--seed", type=int, help="seed of candidate 1 (candidate i uses seed+i-1)")
    p.add_argument("--json", action="store_true", help="one JSON object per prompt")
    p.add_argument("--output", "-o", metavar="F", help="write results to F instead of stdout")


def _add_steering_arguments(p: argparse.ArgumentParser) -> None:
    """Samplers against loops and for control, and the story context (issue 11)."""
    p.add_argument("--min-p", type=float, help="drop tokens under MIN_P x the top one's chance")
    p.add_argument("--typical-p", type=float, help="locally typical sampling mass (1 is off)")
    p.add_argument("--dry-multiplier", type=float, help="DRY repetition penalty strength (0 off)")
    p.add_argument("--dry-base", type=float, help="DRY growth per extra repeated token")
    p.add_argument("--dry-allowed-length", type=int, help="repeats this long are not penalised")
    p.add_argument("--repetition-range", type=int, help="repetition penalty: last N tokens only")
    p.add_argument(
        "--ban",
        action="append",
        metavar="PHRASE",
        help="a phrase that never appears in a candidate (repeatable)",
    )
    p.add_argument(
        "--bias",
        action="append",
        metavar="PHRASE=WEIGHT",
        help="make a phrase likelier (+) or rarer (-), weight -20 to 20 (repeatable)",
    )
    p.add_argument("--memory", metavar="FILE", help="text placed at the top of the context")
    p.add_argument("--note", metavar="TEXT", help="author's note, a few lines before the end")
    p.add_argument("--lorebook", metavar="FILE", help="lorebook TOML ([[entry]] keys, text, ...)")


def read_context(args: argparse.Namespace) -> Any:
    """The StoryContext from --memory/--note/--lorebook (None without them), read and validated
    before the model loads."""
    if args.memory is None and args.note is None and args.lorebook is None:
        return None
    from writer.engine.context import StoryContext, load_lorebook

    memory = read_text_file(Path(args.memory), purpose="read memory file") if args.memory else ""
    lorebook = load_lorebook(Path(args.lorebook)) if args.lorebook else ()
    return StoryContext(memory=memory, note=args.note or "", lorebook=lorebook)


@dataclass
class Request:
    prompt: str
    mode: str
    n: int
    seed: int | None


def resolve_params(args: argparse.Namespace) -> tuple[str, SamplingParams]:
    from writer.config import load_config

    preset = args.preset or load_config().preset
    params = get_preset(preset)
    overrides = {
        name: getattr(args, name)
        for name in (
            "temperature",
            "top_k",
            "top_p",
            "repetition_penalty",
            "no_repeat_ngram_size",
            "max_new_tokens",
            "stop",
            "min_p",
            "typical_p",
            "dry_multiplier",
            "dry_base",
            "dry_allowed_length",
            "repetition_range",
        )
    }
    # Phrases add to the preset's own (a flag's weight wins for the same phrase).
    if args.ban:
        overrides["ban"] = (*params.ban, *(b for b in args.ban if b not in params.ban))
    if args.bias:
        flagged = dict(SamplingParams(bias=tuple(args.bias)).bias)
        kept = tuple((p, w) for p, w in params.bias if p not in flagged)
        overrides["bias"] = (*kept, *flagged.items())
    return preset, params.replace(**overrides)


def _check_n(n: Any, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CANDIDATES:
        raise WriterError(f"{where or '-'}n must be 1 to {MAX_CANDIDATES} candidates; got {n!r}")
    return n


def read_requests(args: argparse.Namespace) -> list[Request]:
    """Every request, validated before any model is loaded (so bad input fails fast)."""
    n = _check_n(3 if args.n is None else args.n, "")
    if args.prompts:
        text = read_text_file(Path(args.prompts), purpose="read prompts file")
        requests = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{args.prompts} line {number}: "
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise WriterError(
                    f"{where}not valid JSON ({exc.msg}); write one JSON string or object per line"
                ) from None
            if isinstance(item, str):
                item = {"prompt": item}
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
                raise WriterError(f'{where}expected a string or an object with a "prompt" text')
            unknown = set(item) - {"prompt", "mode", "n", "seed"}
            if unknown:
                raise WriterError(
                    f"{where}unknown key {sorted(unknown)[0]!r}; allowed: prompt, mode, n, seed"
                )
            mode = item.get("mode", args.mode)
            if mode not in MODES:
                raise WriterError(f"{where}mode must be continue or ideas; got {mode!r}")
            seed = item.get("seed", args.seed)
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                raise WriterError(f"{where}seed must be a whole number; got {seed!r}")
            requests.append(Request(item["prompt"], mode, _check_n(item.get("n", n), where), seed))
        if not requests:
            raise WriterError(f"prompts file {args.prompts} has no prompts; add one JSON per line")
        return requests
    if args.prompt_file:
        if args.prompt is not None:
            raise UsageError("give either PROMPT or --prompt-file, not both")
        prompt = read_text_file(Path(args.prompt_file), purpose="read prompt file")
    elif args.prompt == "-":
        try:
            prompt = sys.stdin.read()
        except UnicodeDecodeError:
            raise WriterError("standard input is not UTF-8 text; convert it to UTF-8") from None
    else:
        prompt = args.prompt or ""
    return [Request(prompt, args.mode, n, args.seed)]


def _open_output(path: str | None) -> IO[str]:
    if path is None:
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in run()
    except OSError as exc:
        raise WriterError(f"cannot write output file {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    preset, params = resolve_params(args)
    requests = read_requests(args)
    context = read_context(args)
    as_json = args.json or bool(args.prompts)

    from writer.config import load_config
    from writer.engine import load_engine

    model_name = args.model or load_config().model
    engine = load_engine(model_name, device=args.device, precision=args.precision)
    out = _open_output(args.output)
    try:
        if args.prompts:
            _run_batch(engine, requests, params, model_name, out, context)
        else:
            req = requests[0]
            stream_live = not as_json and req.n == 1 and out.isatty()
            live = out if stream_live else None
            result = _run_one(engine, req, params, model_name, live, context)
            _write(result, out, as_json, preset, streamed=stream_live)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _run_one(
    engine: Any,
    req: Request,
    params: SamplingParams,
    model_name: str,
    live: IO[str] | None,
    context: Any = None,
) -> dict[str, Any]:
    from writer.engine.types import GenerationDone, TokenDelta

    done = None
    events = engine.stream(
        req.prompt, params, n=req.n, seed=req.seed, mode=req.mode, context=context
    )
    for event in events:
        if live is not None and isinstance(event, TokenDelta):
            live.write(event.text)
            live.flush()
        elif isinstance(event, GenerationDone):
            done = event
    assert done is not None
    result = {
        "prompt": req.prompt,
        "mode": req.mode,
        "model": model_name,
        "params": params.to_dict(),
        "seed": done.seed,
        "candidates": [
            {"text": c.text, "tokens": c.tokens, "logprob": round(c.logprob, 4), "seed": c.seed}
            for c in done.candidates
        ],
        "_stats": done.stats,
    }
    if done.context is not None:
        result["context"] = done.context.to_dict()
    return result


def _write(
    result: dict[str, Any], out: IO[str], as_json: bool, preset: str, streamed: bool = False
) -> None:
    stats = result.pop("_stats")
    if as_json:
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.flush()
        return
    if streamed:
        out.write("\n")
        return
    for i, cand in enumerate(result["candidates"], 1):
        out.write(
            f"--- candidate {i} (seed {cand['seed']}, {cand['tokens']} tokens, "
            f"mean logprob {cand['logprob']:.2f}) ---\n{cand['text']}\n"
        )
    print(
        f"writer: {result['model']}, preset {preset}, {stats.new_tokens} tokens in "
        f"{stats.total_s:.1f}s ({stats.tokens_per_s:.1f} tokens/s); reproduce with --seed "
        f"{result['seed']}",
        file=sys.stderr,
    )
    if "context" in result:
        ctx = result["context"]
        used = ", ".join(str(e["index"]) for e in ctx["entries"]) or "none"
        left = ", ".join(str(e["index"]) for e in ctx["left_out"])
        print(
            f"writer: context {ctx['total']}/{ctx['window']} tokens: memory {ctx['memory']}, "
            f"lorebook {ctx['lorebook']} (entries {used}{'; left out ' + left if left else ''}), "
            f"note {ctx['note']}, story {ctx['story']} ({ctx['trimmed']['story']} trimmed)",
            file=sys.stderr,
        )


def _run_batch(
    engine: Any,
    requests: list[Request],
    params: SamplingParams,
    model_name: str,
    out: IO[str],
    context: Any = None,
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task("generating", total=len(requests))
        for req in requests:
            result = _run_one(engine, req, params, model_name, None, context)
            _write(result, out, True, "")
            progress.advance(task)
