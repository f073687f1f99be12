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
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto (default): bf16 on a CUDA GPU, fp32 (exact) on CPU; bf16 is faster on CPUs "
        "with bf16 support, slightly less exact",
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
    p.add_argument("--seed", type=int, help="seed of candidate 1 (candidate i uses seed+i-1)")
    p.add_argument("--json", action="store_true", help="one JSON object per prompt")
    p.add_argument("--output", "-o", metavar="F", help="write results to F instead of stdout")


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
        )
    }
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
    as_json = args.json or bool(args.prompts)

    from writer.config import load_config
    from writer.engine import load_engine

    model_name = args.model or load_config().model
    engine = load_engine(model_name, device=args.device, precision=args.precision)
    out = _open_output(args.output)
    try:
        if args.prompts:
            _run_batch(engine, requests, params, model_name, out)
        else:
            req = requests[0]
            stream_live = not as_json and req.n == 1 and out.isatty()
            result = _run_one(engine, req, params, model_name, out if stream_live else None)
            _write(result, out, as_json, preset, streamed=stream_live)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _run_one(
    engine: Any, req: Request, params: SamplingParams, model_name: str, live: IO[str] | None
) -> dict[str, Any]:
    from writer.engine.types import GenerationDone, TokenDelta

    done = None
    for event in engine.stream(req.prompt, params, n=req.n, seed=req.seed, mode=req.mode):
        if live is not None and isinstance(event, TokenDelta):
            live.write(event.text)
            live.flush()
        elif isinstance(event, GenerationDone):
            done = event
    assert done is not None
    return {
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


def _run_batch(
    engine: Any, requests: list[Request], params: SamplingParams, model_name: str, out: IO[str]
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
            result = _run_one(engine, req, params, model_name, None)
            _write(result, out, True, "")
            progress.advance(task)
