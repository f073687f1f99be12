"""`python -m bench.run --context-cache`: does the story context keep the prefix cache useful?

Issue 11 asks for the first-token time after typing 20 tokens with memory + 3 lorebook entries +
an author's note, against the same without them. Per round and way: clear the engine's cache,
request on W1's story (untimed: this is the request before the typing), then time the request on
W4's story (W1 + 20 typed tokens), 4 candidates x `new` tokens as in W4. Ways alternate, the
starting one rotates each round; medians are reported with the prompt tokens and how many of them
came from the cache. With a cache-friendly layout both ways recompute only about the 20 typed
tokens, so their first-token times should be close.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.workloads import make_workloads

MEMORY = (
    "A slow winter tale told by the old queen. The fox and the wolf are friends; the king "
    "never leaves his house. The style is plain and quiet, with short sentences."
)
# Keys chosen from the benchmark story's word list, so all three entries are triggered.
LOREBOOK = (
    ("fox", "The fox is called Vesper. She is small, red and afraid of the sea."),
    ("king", "The king is old and blind, and he knows every door of his house."),
    ("river", "The river runs from the forest to the village and never freezes."),
)
NOTE = "The storm is coming; keep the mood tense."


def story_context() -> Any:
    from writer.engine.story.context import LoreEntry, StoryContext

    entries = tuple(LoreEntry(keys=(key,), text=text) for key, text in LOREBOOK)
    return StoryContext(memory=MEMORY, note=NOTE, lorebook=entries, scan_depth=1024)


def measure(engine: Any, before: str, after: str, n: int, new: int, seed: int, context: Any):
    """(first token s, prompt tokens, reused tokens, context breakdown) of `after` once the
    engine has served `before`."""
    from writer.engine.types import GenerationDone
    from writer.presets import SamplingParams

    params = SamplingParams(
        temperature=0.8, top_k=50, top_p=1.0, repetition_penalty=1.0, max_new_tokens=new
    )
    engine.clear_cache()
    for _ in engine.stream(before, params, n=n, seed=seed, context=context):
        pass
    first = None
    done = None
    start = time.perf_counter()
    for event in engine.stream(after, params, n=n, seed=seed, context=context):
        if first is None:
            first = time.perf_counter() - start
        if isinstance(event, GenerationDone):
            done = event
    assert done is not None and first is not None
    return first, done.stats.prompt_tokens, done.stats.reused_tokens, done.context


def main(model_dir: Path, args: Any, log: Any) -> int:
    import torch
    from transformers import AutoTokenizer

    from writer.engine import load_engine
    from writer.engine.loading import default_threads

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    by_name = {w.name: w for w in make_workloads(tokenizer, quick=args.quick)}
    w1, w4 = by_name["W1"], by_name["W4"]
    engine = load_engine(str(model_dir), device="cpu", threads=threads)
    ways = {"story only": None, "memory + 3 lorebook + note": story_context()}
    results: dict[str, list[tuple[float, int, int, Any]]] = {name: [] for name in ways}
    log("warming up")
    measure(engine, w1.prompt, w4.prompt, w4.n, w4.new_tokens, args.seed, None)
    names = list(ways)
    for round_ in range(args.repeat):
        order = names[round_ % 2 :] + names[: round_ % 2]
        for name in order:
            m = measure(
                engine, w1.prompt, w4.prompt, w4.n, w4.new_tokens, args.seed + round_, ways[name]
            )
            results[name].append(m)
            log(f"round {round_ + 1}/{args.repeat} {name}: first {m[0]:.3f}s reused {m[2]}/{m[1]}")
    rows = []
    for name in names:
        ms = results[name]
        first = statistics.median(m[0] for m in ms)
        _, prompt, reused, breakdown = ms[-1]
        parts = (
            ""
            if breakdown is None
            else (
                f"memory {breakdown.memory}, lorebook {breakdown.lorebook} "
                f"({len(breakdown.entries)} entries), note {breakdown.note}, "
                f"story {breakdown.story}"
            )
        )
        rows.append((name, first, prompt, reused, parts))
    base = rows[0][1]
    print(f"## First token after typing {len(w4.prompt_ids) - len(w1.prompt_ids)} tokens\n")
    print(f"Model {model_dir.name}, {threads} threads, {args.repeat} rounds (medians), "
          f"{w4.n} x {w4.new_tokens} tokens.\n")  # fmt: skip
    print("| context | first token | vs story only | prompt tokens | from cache | parts |")
    print("|---|---|---|---|---|---|")
    for name, first, prompt, reused, parts in rows:
        print(
            f"| {name} | {first * 1000:.0f} ms | {first / base:.2f}x | {prompt} | {reused} | "
            f"{parts} |"
        )
    return 0
