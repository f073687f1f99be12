"""`writer generate`: candidates for a prompt, for scripting and data augmentation."""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from writer.commands import device_type, seed_type
from writer.commands.generate_input import (
    MODES,
    RecallSetting,
    Request,
    read_context,
    read_recall,
    read_requests,
    with_recall,
)
from writer.engine.types import MAX_LOGPROBS, MAX_SEED
from writer.errors import UsageError, WriterError
from writer.presets import ParamError, SamplingParams, get_preset


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
    p.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:N (default: cuda when available)"
    )
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "int8"),
        default="auto",
        help="auto (default): bf16 on a CUDA GPU, int8 weights on an x86 CPU (fastest; "
        "measured within the quality bound), else fp32; fp32 is exact",
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
    p.add_argument(
        "--seed",
        type=seed_type,
        help=f"seed of candidate 1, 0 to {MAX_SEED} (candidate i uses seed+i-1)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per prompt")
    p.add_argument(
        "--logprobs",
        type=int,
        metavar="K",
        help=f"with --json: each candidate's tokens with their log-probabilities and the K "
        f"(0 to {MAX_LOGPROBS}) most likely alternatives at each",
    )
    p.add_argument("--output", "-o", metavar="F", help="write results to F instead of stdout")
    p.add_argument("-f", "--force", action="store_true", help="let -o replace an existing file")
    _add_remote_arguments(p)


def _add_remote_arguments(p: argparse.ArgumentParser) -> None:
    """A model served elsewhere, and batches with requests in flight."""
    p.add_argument(
        "--engine",
        metavar="URL",
        help="an OpenAI-compatible server (vLLM, llama.cpp, `writer serve`), e.g. "
        "http://127.0.0.1:8000; --model then names its model (default: its only one); "
        "the API key is read from WRITER_API_KEY (default: config `engine`, else local)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="with --prompts: keep N requests in flight, decoded together (default 8 with a "
        "local model, 1 with --engine; a server batches them itself)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --prompts and -o: skip the prompts whose results the file already holds",
    )


def _add_steering_arguments(p: argparse.ArgumentParser) -> None:
    """Samplers against loops and for control, and the story context."""
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
    recall = p.add_mutually_exclusive_group()
    recall.add_argument(
        "--recall",
        action="store_true",
        default=None,
        help="recall passages from the whole story that the window no longer shows (default: "
        "on when the story is longer than the window; see docs/recall.md)",
    )
    recall.add_argument(
        "--no-recall", dest="recall", action="store_false", help="the story's end only, as before"
    )
    p.add_argument(
        "--recall-tokens",
        type=int,
        metavar="N",
        help="the cap on recalled passages in tokens, 0 (off) to 8192 (default: preset, "
        "config, else an eighth of the window)",
    )


def resolve_params(args: argparse.Namespace) -> tuple[str, SamplingParams]:
    from writer.config import load_config

    if args.preset is None:
        preset = load_config().preset
        params = get_preset(preset)
    else:
        preset = args.preset
        try:
            params = get_preset(preset)
        except WriterError as exc:  # a bad --preset is a usage error (exit 2)
            raise UsageError(str(exc)) from None
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
    try:
        # Phrases add to the preset's own (a flag's weight wins for the same phrase).
        if args.ban:
            overrides["ban"] = (*params.ban, *(b for b in args.ban if b not in params.ban))
        if args.bias:
            flagged = dict(SamplingParams(bias=tuple(args.bias)).bias)
            kept = tuple((p, w) for p, w in params.bias if p not in flagged)
            overrides["bias"] = (*kept, *flagged.items())
        return preset, params.replace(**overrides)
    except ParamError as exc:  # an out-of-range flag is a usage error, as a malformed one is
        raise UsageError(f"{exc} (see `writer generate --help`)") from None


def _open_output(args: argparse.Namespace) -> Any:
    """stdout, or -o's file under the shared output rules (writer.commands.output)."""
    if args.output is None:
        return sys.stdout
    from writer.commands.output import open_output

    inputs = (args.prompt_file, args.prompts, args.memory, args.lorebook)
    return open_output(args.output, force=args.force, inputs=inputs, append=args.resume)


def _write_error(path: str | None, exc: OSError) -> WriterError:
    where = f"output file {path}" if path else "standard output"
    return WriterError(f"cannot write to {where}: {exc.strerror or exc}")


def run(args: argparse.Namespace) -> int:
    preset, params = resolve_params(args)
    requests = read_requests(args)
    context = read_context(args)
    recall = read_recall(args, preset)
    as_json = args.json or bool(args.prompts)
    logprobs = _check_logprobs(args.logprobs, as_json)

    from writer.commands.batch import default_concurrency
    from writer.config import load_config
    from writer.engine.opening import is_engine_url, open_engine

    if args.model is not None and not args.model.strip():
        raise UsageError("--model is empty; give a hub id such as gpt2, a folder or a fine-tune")
    _check_batch_flags(args)
    config = load_config()
    spec = args.engine if args.engine is not None else config.engine
    remote = is_engine_url(spec)
    model_name = args.model if args.model is not None else config.model
    done: set[int] = set()
    if args.resume:
        from writer.commands.batch import finished_indexes

        done = finished_indexes(args.output, [r.prompt for r in requests])
    out = _open_output(args)  # checked before the model loads
    engine = open_engine(
        spec,
        model_name,
        device=args.device or config.device,  # config `device`, as the app honours it
        precision=args.precision,
        server_model=args.model,
    )
    if remote:
        model_name = engine.name
    try:
        if args.prompts:
            _run_many(
                engine,
                requests,
                params,
                model_name,
                out,
                context,
                done,
                default_concurrency(args.concurrency, remote),
                logprobs,
                recall,
            )
        else:
            req = requests[0]
            stream_live = not as_json and req.n == 1 and out.isatty()
            live = out if stream_live else None
            result = _run_one(
                engine, req, params, model_name, live, context, logprobs=logprobs, recall=recall
            )
            _write(result, out, as_json, preset, streamed=stream_live)
        out.flush()
        if out is not sys.stdout:
            out.commit()
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk, /dev/full, an I/O error: one line, not a traceback
        raise _write_error(args.output, exc) from None
    finally:
        if out is not sys.stdout and not out.committed:
            out.keep_partial()
    return 0


def _run_one(
    engine: Any,
    req: Request,
    params: SamplingParams,
    model_name: str,
    live: IO[str] | None,
    context: Any = None,
    cancel: Any = None,
    logprobs: int | None = None,
    recall: RecallSetting | None = None,
) -> dict[str, Any]:
    from writer.engine.types import GenerationDone, TokenDelta

    if recall is not None:
        context = with_recall(context, req.prompt, engine, recall, params.max_new_tokens, req.mode)
    done = None
    extra = {} if logprobs is None else {"logprobs": logprobs}  # engines without it still work
    events = engine.stream(
        req.prompt,
        params,
        n=req.n,
        seed=req.seed,
        mode=req.mode,
        context=context,
        cancel=cancel,
        **extra,
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
        "precision": engine.precision,
        "params": params.to_dict(),
        "seed": done.seed,
        "candidates": [_candidate_json(c, logprobs is not None) for c in done.candidates],
        "_stats": done.stats,
    }
    if done.context is not None:
        result["context"] = done.context.to_dict()
    return result


def _check_logprobs(k: int | None, as_json: bool) -> int | None:
    if k is None:
        return None
    if not 0 <= k <= MAX_LOGPROBS:
        raise UsageError(f"--logprobs must be 0 to {MAX_LOGPROBS} alternatives; got {k}")
    if not as_json:
        raise UsageError("--logprobs needs --json (the probabilities are part of the JSON)")
    return k


def _logprob_json(x: float) -> float | None:
    """A natural-log probability for JSON: null for -inf (a token sampling could not pick) and
    for NaN (a value the server did not give)."""
    return None if x == float("-inf") or x != x else round(x, 6)


def _candidate_json(c: Any, with_logprobs: bool) -> dict[str, Any]:
    data = {"text": c.text, "tokens": c.tokens, "logprob": round(c.logprob, 4), "seed": c.seed}
    if with_logprobs:
        data["logprobs"] = [
            {
                "token": t.text,
                "logprob": _logprob_json(t.logprob),
                "sampled_logprob": _logprob_json(t.sampled_logprob),
                "top": [
                    {
                        "token": a.text,
                        "logprob": _logprob_json(a.logprob),
                        "sampled_logprob": _logprob_json(a.sampled_logprob),
                    }
                    for a in t.top
                ],
            }
            for t in c.token_logprobs
        ]
    return data


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
    for i, cand in enumerate(result["candidates"] if not streamed else [], 1):
        out.write(
            f"--- candidate {i} (seed {cand['seed']}, {cand['tokens']} tokens, "
            f"mean logprob {cand['logprob']:.2f}) ---\n{cand['text']}\n"
        )
    out.flush()  # the results are written (or a write error is raised) before the summary
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
        passages = len(ctx.get("recalled", ()))
        print(
            f"writer: context {ctx['total']}/{ctx['window']} tokens: memory {ctx['memory']}, "
            f"lorebook {ctx['lorebook']} (entries {used}{'; left out ' + left if left else ''}), "
            f"recall {ctx.get('recall', 0)} ({passages} passage{'' if passages == 1 else 's'}), "
            f"note {ctx['note']}, story {ctx['story']} ({ctx['trimmed']['story']} trimmed)",
            file=sys.stderr,
        )


def _check_batch_flags(args: argparse.Namespace) -> None:
    from writer.commands.batch import MAX_CONCURRENCY

    if args.concurrency is not None and not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be 1 to {MAX_CONCURRENCY}; got {args.concurrency}")
    if (args.concurrency or 1) > 1 and not args.prompts:
        raise UsageError("--concurrency needs a batch: give --prompts F.jsonl")
    if args.resume and not (args.prompts and args.output):
        raise UsageError("--resume needs --prompts F.jsonl and -o OUT.jsonl (the file to go on)")


def _run_many(
    engine: Any,
    requests: list[Request],
    params: SamplingParams,
    model_name: str,
    out: IO[str],
    context: Any,
    done: set[int],
    concurrency: int,
    logprobs: int | None = None,
    recall: RecallSetting | None = None,
) -> None:
    """A batch, `concurrency` requests in flight, each result written as it finishes with its
    prompt's index (writer.commands.batch)."""
    from writer.commands.batch import batching, run_batch, write_line

    def run_one(index: int, cancel: Any) -> dict[str, Any]:
        req = requests[index]
        result = _run_one(engine, req, params, model_name, None, context, cancel, logprobs, recall)
        stats = result.pop("_stats")
        return {"index": index, **result, "_tokens": stats.new_tokens}

    todo = [i for i in range(len(requests)) if i not in done]

    def write(result: dict[str, Any]) -> None:
        tokens = result.pop("_tokens")
        write_line(out, result)
        result["_tokens"] = tokens

    with batching(engine, concurrency) as engine:
        meter = run_batch(run_one, todo, len(requests), write, concurrency)
    out.flush()  # a write error is reported before the summary, never after it
    skipped = f", {len(done)} already done" if done else ""
    print(
        f"writer: generated {len(todo)}/{len(requests)} prompts{skipped} ({meter.rates()})",
        file=sys.stderr,
    )
