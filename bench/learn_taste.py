"""A simulated author for `writer learn`: does DPO teach a model which candidates they pick?

The author likes one character (Mara) and not another (Tom). A small GPT-2 is first trained
(`writer finetune`'s code) on a story corpus that names both equally often, so the base model
writes either. For each prompt the author is shown N candidates from that base model and
inserts one that names Mara and not Tom; the candidates naming Tom are the ones passed over.
Those pairs go through `writer learn`'s code (DPO with TRL). Then base and learned model each
write fresh continuations of unseen prompts with the same seeds, and the script counts the
names: the outcome is (Mara/Tom after) / (Mara/Tom before), expected to be at least 2.

The cost is measured on the author's own text: passages of the same kind of story that neither
the base nor DPO trained on (own_text_perplexity in the report, before and after), expected to
rise by no more than 10%.

    python -m bench.learn_taste [--prompts 120] [--samples 200] [--steps 20] [--seed 0]
                                [--beta B] [--lr LR] [--sft-weight W] [--json]

Everything is built here (no download) in a temporary data dir; a run takes a few minutes on
two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

LIKED, DISLIKED = "Mara", "Tom"
OPENINGS = [
    "The next morning",
    "At night",
    "After the storm",
    "In the old house",
    "By the river",
    "When the bell rang",
    "Later that day",
    "On the hill",
]
ACTIONS = [
    "walked to the river and looked at the water.",
    "opened the door and saw the lighthouse.",
    "lit a lamp and waited in the rain.",
    "told a story about the forest.",
    "followed the strange song through the trees.",
    "sailed north for three days.",
]


def corpus(rng: random.Random, sentences: int = 3000) -> str:
    """Sentences that name either character equally often."""
    lines = []
    for _ in range(sentences):
        name = rng.choice([LIKED, DISLIKED])
        lines.append(f"{rng.choice(OPENINGS)}, {name} {rng.choice(ACTIONS)}")
    return " ".join(lines) + "\n"


def passages(rng: random.Random, count: int = 100, sentences: int = 4) -> list[str]:
    """`count` passages of the corpus's kind, drawn apart from it (the author's unseen text)."""
    return [corpus(rng, sentences).strip() for _ in range(count)]


def build_model(folder: Path, text: str) -> Path:
    """A byte-level BPE tokenizer trained on `text` and a small random GPT-2."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [text], vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"]
    )
    bpe.save(str(folder / "tokenizer.json"))
    tokenizer = GPT2TokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def names(text: str) -> tuple[int, int]:
    return (
        len(re.findall(rf"\b{LIKED}\b", text)),
        len(re.findall(rf"\b{DISLIKED}\b", text)),
    )


def sample_counts(model_name: str, prompts: list[str], seed: int) -> tuple[int, int]:
    """Names in one 12-token continuation per prompt (seeds seed, seed+1, ...)."""
    from writer.engine import load_engine
    from writer.presets import BUILTIN_PRESETS, DEFAULT_PRESET

    engine = load_engine(model_name, device="cpu", precision="fp32")
    params = BUILTIN_PRESETS[DEFAULT_PRESET].params.replace(max_new_tokens=12, stop="none")
    liked = disliked = 0
    for i, prompt in enumerate(prompts):
        text = engine.generate(prompt, params, n=1, seed=seed + i)[0].text
        a, b = names(text)
        liked, disliked = liked + a, disliked + b
    return liked, disliked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=120, help="requests the author answers")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--samples", type=int, default=200, help="continuations measured")
    parser.add_argument("--steps", type=int, default=20, help="DPO steps")
    parser.add_argument("--seed", type=int, default=0, help="writer learn's seed")
    parser.add_argument("--beta", type=float, help="DPO beta (default: writer learn's)")
    parser.add_argument("--lr", type=float, help="learning rate (default: writer learn's)")
    parser.add_argument("--sft-weight", type=float, help="NLL weight (default: writer learn's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="learn-taste-"))
    os.environ.update(
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        HF_HUB_OFFLINE="1",
    )
    from writer.engine import load_engine
    from writer.presets import BUILTIN_PRESETS, DEFAULT_PRESET
    from writer.training.finetune import FinetuneOptions, finetune
    from writer.training.learn import LearnOptions, learn
    from writer.training.pairs import PreferencePair

    rng = random.Random(0)
    text = corpus(rng)
    raw = build_model(home / "raw", text)
    (home / "corpus.txt").write_text(text, encoding="utf-8")
    started = time.monotonic()
    finetune(
        [home / "corpus.txt"],
        FinetuneOptions(name="base", base=str(raw), steps=300, block_size=64, device="cpu"),
    )
    base_s = time.monotonic() - started

    # The author at work: candidates from the base model, one inserted, the rest passed over.
    engine = load_engine("base", device="cpu", precision="fp32")
    params = BUILTIN_PRESETS[DEFAULT_PRESET].params.replace(max_new_tokens=12, stop="none")
    pairs = []
    for i in range(args.prompts):
        prompt = f"{rng.choice(OPENINGS)},"
        found = engine.generate(prompt, params, n=args.candidates, seed=10_000 + i * 10)
        texts = [c.text for c in found]
        liked = [t for t in texts if names(t)[0] and not names(t)[1]]
        passed = [t for t in texts if names(t)[1]]
        if liked and passed:
            pairs.extend(PreferencePair(prompt, liked[0], t, "log") for t in passed)
    started = time.monotonic()
    options = LearnOptions(
        name="taste",
        base="base",
        steps=args.steps,
        device="cpu",
        seed=args.seed,
        beta=args.beta,
        lr=args.lr,
        sft_weight=args.sft_weight,
    )
    own_text = passages(random.Random(1))
    result = learn(pairs, options, own_text=own_text)
    learn_s = time.monotonic() - started

    prompts = [f"{OPENINGS[i % len(OPENINGS)]}," for i in range(args.samples)]
    before = sample_counts("base", prompts, 50_000)
    after = sample_counts("taste", prompts, 50_000)
    ratio_before = before[0] / max(1, before[1])
    ratio_after = after[0] / max(1, after[1])
    ppl_before = result.report["before"]["own_text_perplexity"]
    ppl_after = result.report["after"]["own_text_perplexity"]
    outcome = {
        "pairs": len(pairs),
        "dpo_steps": args.steps,
        "base_train_s": round(base_s, 1),
        "learn_s": round(learn_s, 1),
        "before": {LIKED: before[0], DISLIKED: before[1], "ratio": round(ratio_before, 3)},
        "after": {LIKED: after[0], DISLIKED: after[1], "ratio": round(ratio_after, 3)},
        "gain": round(ratio_after / ratio_before, 2) if ratio_before else None,
        "held_out": result.report["after"],
        "held_out_before": result.report["before"],
        "beta": result.report["beta"],
        "lr": result.report["lr"],
        "sft_weight": result.report["sft_weight"],
        "own_text": f"{len(own_text)} unseen corpus passages",
        "perplexity_change": round(ppl_after / ppl_before - 1, 3),
    }
    if args.json:
        print(json.dumps(outcome))
    else:
        print(f"{len(pairs)} pairs from {args.prompts} requests; DPO {args.steps} steps")
        print(f"base:    {LIKED} {before[0]}  {DISLIKED} {before[1]}  ratio {ratio_before:.2f}")
        print(f"learned: {LIKED} {after[0]}  {DISLIKED} {after[1]}  ratio {ratio_after:.2f}")
        print(f"gain: {outcome['gain']}x (the goal: at least 2x)")
        held, held_before = outcome["held_out"], outcome["held_out_before"]
        print(
            f"held-out preference accuracy {held_before['accuracy']:.0%} -> {held['accuracy']:.0%}"
        )
        print(
            f"perplexity of {outcome['own_text']}: {ppl_before:.3f} -> {ppl_after:.3f} "
            f"({outcome['perplexity_change']:+.1%}; the goal: at most +10%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
