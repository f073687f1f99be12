"""Phrases over any tokenization: the bytes of every token, phrase bias and phrase bans.

A phrase like "the dragon" can be written by GPT-2 as " the"+" dragon", " th"+"e"+" drag"+"on"
or inside one token; matching the *bytes* of the text, not token ids, covers every one of them
(and multi-byte characters split across tokens). Matching ignores ASCII case.

- `TokenTable` (writer.engine.sampling.tokentable, torch-free): each token's bytes, and
  lookups "which tokens start with / are a prefix of these bytes".
- `PhraseBiasLogitsProcessor`: adds a weight to tokens that start or continue a phrase.
- `BanMatcher`: finds where a candidate completed a banned phrase (the engine then backtracks
  to the token where the phrase began and bans that token at that position), the tokens that
  would complete one now (the hard guard, used when backtracking is not possible or its budget
  is spent), and how much of a candidate's end could still become one (held back from streaming).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import torch
from transformers import LogitsProcessor

from writer.engine.sampling.tokentable import TokenTable


def _variants(phrase: str) -> list[bytes]:
    """The phrase's lower-case bytes, with and without a leading space."""
    core = phrase.strip().lower().encode("utf-8")
    return [core, b" " + core]


class PhraseBiasLogitsProcessor(LogitsProcessor):
    """Adds `weight` to the logits of tokens that start or continue a phrase.

    Not started: the phrase's first token gets the weight (the longest token that begins
    " phrase", or "phrase" after a newline, quote or other non-word byte). Started: wherever the
    text's end matches the phrase's first k bytes, beginning at a word boundary, every token that
    carries on with the next bytes (or finishes the phrase) gets it, however the phrase is split
    into tokens. So a positive weight makes the phrase likelier and, once begun, likely to be
    finished; a negative one steers away from it. Single letters that merely could begin the
    phrase are not pushed (that made a small model write "l l l l" for "lighthouse").
    """

    def __init__(self, table: TokenTable, bias: tuple[tuple[str, float], ...]) -> None:
        self.table = table
        # Per phrase: its weight, and per variant (" phrase", "phrase"): its bytes, its first
        # token(s), and per matched length k the continuing tokens.
        self.phrases: list[tuple[float, list[tuple[bytes, list[int], list[list[int]]]]]] = []
        self.longest = 1
        for phrase, weight in bias:
            variants = []
            for v in _variants(phrase):
                prefixes = table.prefixes_of(v)
                first = [i for i in prefixes if table.lower[i] == table.lower[prefixes[-1]]]
                steps = [
                    sorted(set(table.prefixes_of(v[k:]) + table.starting_with(v[k:])))
                    for k in range(len(v))
                ]
                variants.append((v, first, steps))
                self.longest = max(self.longest, len(v) + 1)
            self.phrases.append((weight, variants))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        bias = torch.zeros(scores.shape, dtype=scores.dtype)
        for row, ids in enumerate(input_ids[:, -self.longest :].tolist()):
            tail = self.table.tail(ids, self.longest)
            after_word = tail[-1:].isalnum() or tail[-1:].isspace()
            for weight, variants in self.phrases:
                tokens: set[int] = set()
                for v, first, steps in variants:
                    if v[:1] == b" " or not after_word:
                        tokens.update(first)
                    for k in range(1, len(v)):
                        if tail.endswith(v[:k]) and _at_boundary(tail, k, v):
                            tokens.update(steps[k])
                if tokens:
                    bias[row, list(tokens)] += weight
        return scores + bias.to(scores.device)


def _at_boundary(tail: bytes, k: int, phrase: bytes) -> bool:
    """Whether the match of `phrase[:k]` at the end of `tail` begins a word (or the phrase
    begins with a space or punctuation, which is a boundary itself)."""
    if not phrase[:1].isalnum():
        return True
    before = tail[-k - 1 : -k] if len(tail) > k else b""
    return not before.isalnum()


class BanMatcher:
    """Where a text completes a banned phrase, and which tokens would complete one."""

    def __init__(self, table: TokenTable, phrases: tuple[str, ...]) -> None:
        self.table = table
        # Substring matching makes " dragon" a case of "dragon": one variant each.
        self.phrases = sorted({p.strip().lower().encode("utf-8") for p in phrases})
        self.longest = max(len(p) for p in self.phrases)
        self._starting: dict[bytes, list[int]] = {}
        self._inside = {p: table.containing(p) for p in self.phrases}

    def completed(self, before: bytes, new: bytes) -> int | None:
        """The offset in `before + new` where the earliest phrase ending inside `new` starts.

        `before` is the text so far (only its last `longest - 1` bytes matter), `new` the bytes
        of the token just added; None if no phrase was completed by `new`.
        """
        keep = min(len(before), self.longest - 1)
        window = before[len(before) - keep :] + new
        # Only occurrences that end inside `new` (a phrase in the prompt is not the candidate's).
        found = (window.find(p, max(0, keep - len(p) + 1)) for p in self.phrases)
        starts = [s for s in found if s >= 0]
        return len(before) - keep + min(starts) if starts else None

    def completing_tokens(self, tail: bytes) -> list[int]:
        """Tokens that would complete a phrase if added after text ending with `tail`."""
        tokens: list[int] = []
        for p in self.phrases:
            tokens += self._inside[p]
            for k in range(len(p)):
                if k == 0 or tail.endswith(p[:k]):
                    rest = p[k:]
                    if rest not in self._starting:
                        self._starting[rest] = self.table.starting_with(rest)
                    tokens += self._starting[rest]
        return tokens

    def pending(self, text: bytes) -> int:
        """How many bytes at the end of `text` could be the start of a phrase (0: none)."""
        best = 0
        for p in self.phrases:
            for k in range(min(len(p) - 1, len(text)), best, -1):
                if text.endswith(p[:k]):
                    best = k
                    break
        return best


class BanTracker:
    """Banned phrases for one request: backtracking bookkeeping for each of the engine's rows
    (which carry `ids`, `logprobs`, `text`, `bans`, `lower`, `ends`, `rollbacks`, `discarded` and
    `guard`).

    When a row's new token completes a banned phrase, the row goes back to the token where the
    phrase began (the first generated token if it began in the prompt), that token is banned at
    that position, and sampling resumes there. Bans at later positions are forgotten (their text
    is gone). A row that keeps running into phrases (more than ROLLBACKS rollbacks, or more
    discarded tokens than its budget) switches to the guard: every token that would complete a
    phrase is masked, so the phrase still never appears and the request still ends.
    """

    ROLLBACKS = 32

    def __init__(
        self, matcher: BanMatcher, table: TokenTable, prompt: list[int], budget: int
    ) -> None:
        self.matcher = matcher
        self.table = table
        self.prompt_tail = table.tail(prompt, matcher.longest)
        self.budget = budget

    def mask(self, logits: torch.Tensor, rows: list[Any]) -> torch.Tensor:
        """`logits` with each row's banned tokens at its position set to -inf."""
        masked = None
        for b, row in enumerate(rows):
            banned = list(row.bans.get(len(row.ids), ()))
            if row.guard:
                tail = (self.prompt_tail + row.lower)[-self.matcher.longest :]
                banned += self.matcher.completing_tokens(tail)
            if banned:
                if masked is None:
                    masked = logits.clone()
                masked[b, banned] = float("-inf")
        return logits if masked is None else masked

    def check(self, row: Any, token: int) -> int | None:
        """Record `token` for `row`, or roll the row back: return the position to resume at."""
        new = self.table.lower[token]
        before = self.prompt_tail + row.lower
        start = None if row.guard else self.matcher.completed(before, new)
        if start is None:
            row.lower += new
            row.ends.append(len(row.lower))
            return None
        start -= len(self.prompt_tail)
        ids = [*row.ids, token]
        ends = [*row.ends, len(row.lower) + len(new)]
        position = 0 if start < 0 else bisect.bisect_right(ends, start)
        row.rollbacks += 1
        row.discarded += len(row.ids) - position
        if row.rollbacks > self.ROLLBACKS or row.discarded > self.budget:
            row.guard = True
        row.bans = {k: v for k, v in row.bans.items() if k < position}
        row.bans.setdefault(position, set()).add(ids[position])
        del row.ids[position:], row.logprobs[position:], row.ends[position:]
        row.lower = row.lower[: row.ends[-1]] if row.ends else b""
        return position

    def safe_chars(self, row: Any, decode: Callable[[list[int]], str]) -> int:
        """How much of the row's text can be shown: not the tokens a rollback could remove."""
        pending = self.matcher.pending(self.prompt_tail + row.lower)
        if not pending:
            return len(row.text)
        start = len(row.lower) - pending
        position = 0 if start < 0 else bisect.bisect_right(row.ends, start)
        return len(decode(row.ids[:position]).rstrip("\ufffd"))
