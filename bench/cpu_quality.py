"""`python -m bench.run --quality`: every CPU precision against fp32 on a trained GPT-2 small.

Random weights give flat next-token distributions on which agreement means nothing, so this
uses bench/peaked.py's model trained on Python's standard library: with a GPU, GPT-2 small's
shape (400 steps of 32 x 256 tokens, about a minute); on a 2-core CPU a 6-layer, 384-wide
GPT-2 with short small steps (120 of 8 x 128 tokens, ~30 min on a busy machine), cached in
.bench-models/. Each precision is compared teacher-forced over 2,048 held-out tokens (windows of
1,024) through the engine's own runner: top-1 agreement and KL(fp32 || other).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

POSITIONS = 2048
BOUND_TOP1, BOUND_KL = 0.99, 0.01


def main(args: argparse.Namespace, tokenizer_dir: Any, log: Any) -> int:
    import torch
    from transformers import AutoTokenizer

    from bench.peaked import agreement, build_peaked, heldout_ids
    from writer.engine import load_engine
    from writer.engine.loading import auto_precision

    cuda = torch.cuda.is_available()
    log("training or loading the peaked model (cached in --models-dir)")
    if cuda:
        folder = build_peaked(args.models_dir, tokenizer_dir, device="cuda")
    else:
        # GPT-2 small's shape took 40 s a step on 2 busy cores; this one trains in ~30 min.
        folder = build_peaked(
            args.models_dir,
            tokenizer_dir,
            shape=dict(n_embd=384, n_layer=6, n_head=6),
            steps=120,
            device="cpu",
            batch=8,
            seq=128,
            lr=2e-3,
        )
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ids = heldout_ids(tokenizer, POSITIONS)
    reference = load_engine(str(folder), device="cpu", precision="fp32")
    auto = auto_precision("cpu")
    rows = []
    for precision in ("bf16", "int8"):
        log(f"comparing {precision} with fp32 over {len(ids)} held-out positions")
        try:
            other = load_engine(str(folder), device="cpu", precision=precision)
        except Exception as exc:  # noqa: BLE001 - a precision this CPU lacks is reported
            rows.append({"precision": precision, "error": str(exc)})
            continue
        rows.append({"precision": precision, **agreement(reference, other, ids)})
        del other
    print(f"# CPU precisions vs fp32 on {folder.name}\n")
    first = next(r for r in rows if "error" not in r)
    print(
        f"Reference (fp32): held-out perplexity {first['reference_perplexity']:.1f}, mean "
        f"top-1 probability {first['reference_mean_top_prob']:.2f}; auto on this CPU = {auto}.\n"
    )
    print("| precision | positions | top-1 agreement | mean KL (nats) | max KL |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['precision']} | - | not available: {r['error']} | | |")
            continue
        mark = " (auto)" if r["precision"] == auto else ""
        print(
            f"| {r['precision']}{mark} | {r['positions']} | {100 * r['top1_agreement']:.2f}% "
            f"| {r['mean_kl']:.2e} | {r['max_kl']:.2e} |"
        )
    chosen = next((r for r in rows if r["precision"] == auto), None)
    if chosen is None:
        print("\n```\nPASS  auto is fp32 here: exact\n```")
    else:
        ok = chosen["top1_agreement"] >= BOUND_TOP1 and chosen["mean_kl"] <= BOUND_KL
        print(
            f"\n```\n{'PASS' if ok else 'FAIL'}  auto ({auto}): top-1 "
            f"{100 * chosen['top1_agreement']:.2f}% (>= 99%), mean KL {chosen['mean_kl']:.2e} "
            "(<= 0.01)\n```"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": folder.name, "rows": rows}, indent=2))
    return 0
