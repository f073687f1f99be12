"""`python -m bench.run --loops`: DRY's effect on a looping prompt (quality, not speed).

The evidence for DRY: the repeated-4-gram rate (share of a candidate's 4-grams that already
occurred earlier in it) over 20 seeded candidates on a prompt that makes GPT-2 loop (a repeated
sentence), without and with DRY (multiplier 0.8, base 1.75, allowed length 2). Everything else is
the `balanced` preset with the repetition penalty off, so DRY is the only guard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROMPT = "The old man walked to the sea and looked at the water. " * 6
CANDIDATES = 20


def repeated_4gram_rate(ids: tuple[int, ...] | list[int]) -> float:
    grams = [tuple(ids[i : i + 4]) for i in range(len(ids) - 3)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def rates(engine: Any, params: Any, seed: int, count: int = CANDIDATES) -> list[float]:
    """The rate of each of `count` candidates, seeds seed .. seed + count - 1."""
    out: list[float] = []
    for start in range(0, count, 4):
        n = min(4, count - start)
        for cand in engine.generate(PROMPT, params, n=n, seed=seed + start):
            out.append(repeated_4gram_rate(cand.token_ids))
    return out


def main(model_dir: Path, args: Any, log: Any) -> int:
    from writer.engine import load_engine
    from writer.presets import BUILTIN_PRESETS

    engine = load_engine(str(model_dir), device="cpu", threads=args.threads)
    base = BUILTIN_PRESETS["balanced"].params.replace(
        repetition_penalty=1.0, max_new_tokens=16 if args.quick else 64, stop="none"
    )
    count = 4 if args.quick else CANDIDATES
    print(f"## Repeated 4-grams on a looping prompt ({model_dir.name}, {count} candidates)\n")
    print("| sampling | mean repeated-4-gram rate | candidates looping (rate > 0.2) |")
    print("|---|---|---|")
    for name, params in (
        ("balanced, no repetition penalty", base),
        ("same + DRY 0.8 / 1.75 / 2", base.replace(dry_multiplier=0.8)),
    ):
        log(f"sampling {count} candidates: {name}")
        got = rates(engine, params, args.seed, count)
        looping = sum(r > 0.2 for r in got)
        print(f"| {name} | {sum(got) / len(got):.3f} | {looping}/{len(got)} |")
    return 0
