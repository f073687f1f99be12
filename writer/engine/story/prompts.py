"""Turning the story into a prompt: continuation and plot-idea framing, and context fitting.

GPT-2 is not instruction-tuned: it continues text, so a request has to *look like* the start of
the text we want. For "ideas", the story is followed by a short numbered list heading, the way
web pages, forum posts and writing blogs (all in GPT-2's training data, WebText) present
"what could happen next" brainstorms. GPT-2 then writes list item 1: one short plot idea in
the story's vocabulary. Sampling n candidates independently gives n different first items; each
is cut at the end of its first sentence or line, which is one idea.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

IDEAS_FRAME = "\n\n---\nIdeas for what could happen next in this story:\n\n1."
# A plot idea inserted in the app is a note on its own line, "[Idea: ...]": for the author, not
# the story, so the model never reads it (the app's editor and `generate --prompt-file` alike).
IDEA_NOTE_RE = re.compile(r"^\[Idea: .*\]\n?", re.MULTILINE)
# Front-truncation moves in blocks, so that consecutive requests on a growing story keep the same
# first token and the engine can reuse the cached prefix (a window sliding by one token would
# invalidate it on every keystroke).
TRUNCATE_BLOCK = 128


def strip_idea_notes(text: str) -> str:
    """The story without the author's `[Idea: ...]` note lines."""
    return IDEA_NOTE_RE.sub("", text)


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    truncated: int  # story tokens dropped from the front to fit the context window


def fit_story(story_ids: list[int], budget: int) -> tuple[list[int], int]:
    """Keep the most recent tokens of the story within `budget`, dropping whole blocks."""
    if budget <= 0:
        return [], len(story_ids)
    excess = len(story_ids) - budget
    if excess <= 0:
        return story_ids, 0
    drop = -(-excess // TRUNCATE_BLOCK) * TRUNCATE_BLOCK
    if drop >= len(story_ids):  # a tiny window: keep exactly the last `budget` tokens
        drop = excess
    return story_ids[drop:], drop


def build_prompt(
    tokenizer: Any, story: str, mode: str, context_size: int, max_new_tokens: int
) -> Prompt:
    """Token ids for a request.

    The story is encoded as-is (no special tokens added), so greedy decoding equals
    `model.generate` on the same ids. An empty story starts from the end-of-text token, as GPT-2
    was trained to begin documents. A story too long for the window keeps its end, leaving
    room for `max_new_tokens`.
    """
    eos = tokenizer.eos_token_id
    frame_ids = encode(tokenizer, IDEAS_FRAME) if mode == "ideas" else []
    story_ids = encode(tokenizer, story) if story else []
    if not story_ids:
        story_ids = [eos]
    budget = context_size - max_new_tokens - len(frame_ids)
    kept, dropped = fit_story(story_ids, budget)
    if not kept:
        kept = [eos]
    return Prompt(kept + frame_ids, dropped)


def encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")


def clean_idea(text: str) -> str:
    """One plot idea from a raw 'ideas' candidate: first line, no list marker, tidy spaces."""
    line = text.strip().split("\n", 1)[0]
    line = _LIST_MARKER.sub("", line).strip()
    line = re.sub(r"\s+", " ", line)
    if line and line[0].islower():
        line = line[0].upper() + line[1:]
    return line
