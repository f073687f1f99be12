"""The benchmark's prompts: deterministic pseudo-English stories cut to exact token counts.

The text is seeded word salad over a list of common words, each one GPT-2 token with its
leading space, plus sentence punctuation. Cutting at a word boundary therefore re-encodes to
exactly the same tokens, and W4's longer story starts with exactly W1's tokens (the prefix the
engine can reuse).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

WORDS = (
    "the a and of to in was he she it that his her they had for with on at as but not from "
    "by were this all one there would said so what out up when could into about them then "
    "old little night house door water light long eyes hand day time room face back down "
    "over after again never before under window river forest road village king queen child "
    "fox wolf ship sea storm rain wind fire stone tree garden letter morning evening dark "
    "cold quiet slowly looked walked opened closed turned smiled asked knew thought felt "
    "heard saw found left came went took gave stood waited laughed"
).split()
ENDINGS = (".", ".", ".", ",", ",", "!", "?", ";")


@dataclass(frozen=True)
class Workload:
    """One request shape: a prompt of `prompt_tokens`, `n` candidates of `new_tokens` each.

    `warm_from` names the workload that runs just before this one, without clearing the prefix
    cache (W4 after W1); all others run with a cleared cache (cold).
    """

    name: str
    description: str
    prompt: str
    prompt_ids: list[int]
    n: int
    new_tokens: int
    warm_from: str | None = None


def story_ids(tokenizer: Any, count: int, seed: int) -> list[int]:
    """`count` tokens of seeded pseudo-English, one token per word or punctuation mark."""
    rng = random.Random(seed)
    ids: list[int] = []
    since_end = 0
    while len(ids) < count:
        if since_end > 4 and rng.random() < 0.15:
            piece = rng.choice(ENDINGS)
            since_end = 0
        else:
            piece = " " + rng.choice(WORDS)
            since_end += 1
        token = tokenizer(piece, add_special_tokens=False)["input_ids"]
        assert len(token) == 1, f"{piece!r} is not one GPT-2 token"
        ids.extend(token)
    return ids[:count]


def _text(tokenizer: Any, ids: list[int]) -> str:
    text = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
    again = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert list(again) == list(ids), "benchmark story does not re-encode to the same tokens"
    return text


def make_workloads(tokenizer: Any, quick: bool = False) -> list[Workload]:
    """The workloads W1-W4 (or, with `quick`, the same shapes scaled down for the smoke test).

    Held-out text for the quality check uses another seed (see `heldout_ids`).
    """
    if quick:
        # w1 is one whole int8 prompt piece (GPT2Runner.chunk), so W4 reuses all of it.
        sizes = {"w1": 64, "w2": 8, "w3": 80, "typed": 5, "new": 8, "new2": 16}
    else:
        sizes = {"w1": 512, "w2": 32, "w3": 900, "typed": 20, "new": 64, "new2": 128}
    long_story = story_ids(tokenizer, sizes["w1"] + sizes["typed"], seed=1)
    w1 = long_story[: sizes["w1"]]
    w2 = story_ids(tokenizer, sizes["w2"], seed=2)
    w3 = story_ids(tokenizer, sizes["w3"], seed=3)
    new, new2 = sizes["new"], sizes["new2"]
    return [
        Workload("W1", f"{len(w1)}-token story, 4 x {new}", _text(tokenizer, w1), w1, 4, new),
        Workload("W2", f"{len(w2)}-token prompt, 1 x {new2}", _text(tokenizer, w2), w2, 1, new2),
        Workload("W3", f"{len(w3)}-token prompt, 4 x {new}", _text(tokenizer, w3), w3, 4, new),
        Workload(
            "W4",
            f"W1 + {sizes['typed']} typed tokens (warm prefix), 4 x {new}",
            _text(tokenizer, long_story),
            long_story,
            4,
            new,
            warm_from="W1",
        ),
    ]


def heldout_ids(tokenizer: Any, count: int = 384) -> list[int]:
    """Text used nowhere else, for the reduced-precision quality check."""
    return story_ids(tokenizer, count, seed=99)
