"""Recall: passages from anywhere in the manuscript that the model's window no longer shows.

GPT-2 sees 1,024 tokens; a name introduced forty pages back is gone from its window. Recall
searches the whole text's pieces (engine/story/pieces.py: sentence-bounded, never `[Idea: ...]`
notes) for those sharing the rarest words with the end of the story; context assembly
(engine/story/context.py) puts the best of them before the story, within its token cap.

Query: the last QUERY_WORDS words of the text up to its last finished sentence, plus names
(capitalised words not at a sentence start) finished in the sentence being typed. Stop-words
are dropped, then terms that no piece holds or that more than COMMON_SHARE of the pieces hold,
and the rarest MAX_QUERY_TERMS are kept. Scoring is BM25 (SQLite FTS5's `bm25()`, or the same
formula in Python where SQLite lacks FTS5), so a rare name outweighs any common word. Pieces
that start inside the window (at or after `before`, a character offset) are not recalled: the
model sees them already.

Stable for the prefix cache: `Recaller` answers from its last result while the query's
candidate terms and the window's start are unchanged, so typing inside a sentence never changes
the recalled passages; they change at a sentence end, when a name is finished, or when the
window's start moves (which changes the prompt from there on anyway).

Pure: stdlib only (sqlite3 in memory); no model, no files, no store.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from writer.engine.story.pieces import SENTENCE_END, PieceIndex, layout, words
from writer.engine.story.recallindex import memory_index

QUERY_WORDS = 120
QUERY_CHARS_PER_WORD = 16  # how far back the query reads: room for QUERY_WORDS long words
MAX_QUERY_TERMS = 32
COMMON_SHARE = 0.05  # a term in more of the pieces than this says little about any one of them
COMMON_MIN_PIECES = 40  # below this many pieces no term is "common"
CANDIDATES = 8  # passages a Recaller offers, best first, before a token cap is applied
CHARS_PER_TOKEN = 4  # what `estimate_tokens` assumes where no tokenizer is at hand

_NAME = re.compile(r"(?<![.!?…\n])\s+([A-Z][\w'’-]*\w)")
_UNFINISHED = re.compile(r"[\w'’-]+$")
# Hand-written: a short English list is all the query needs, and the libraries that ship one
# (NLTK, spaCy) bring far more than a list.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say like one two back still even though yet upon also might must shall
    don didn doesn isn wasn weren won wouldn couldn shouldn
    """.split()
)


@dataclass(frozen=True)
class Passage:
    """A recalled piece: where it starts in the text, its size in tokens (0: not yet counted),
    the query terms it holds (`why`), and its BM25 score (higher is better)."""

    text: str
    start: int
    tokens: int = 0
    why: tuple[str, ...] = ()
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """An item of a context breakdown's `"recalled"`: text, start, tokens, why."""
        return {
            "text": self.text,
            "start": self.start,
            "tokens": self.tokens,
            "why": list(self.why),
        }


def estimate_tokens(text: str) -> int:
    """A token count without a tokenizer (about CHARS_PER_TOKEN characters a token)."""
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def query_terms(text: str, query_words: int = QUERY_WORDS) -> tuple[str, ...]:
    """The query's candidate terms for the end of `text`, most recent first (see the module
    docstring). Only finished sentences and finished names count."""
    text = text[-QUERY_CHARS_PER_WORD * max(query_words, 1) :]  # the end is all it reads
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    done = ends[-1] if ends else 0
    tail = words(text[:done])[-query_words:] if query_words > 0 else []
    current = text[done:]
    unfinished = _UNFINISHED.search(current)
    typed = current[: unfinished.start()] if unfinished else current
    names = [w for m in _NAME.finditer(" " + typed.lstrip()) for w in words(m.group(1))]
    seen: dict[str, None] = {}
    for word in reversed(tail + names):
        if len(word) > 2 and word not in STOP_WORDS and not word.isdigit():
            seen.setdefault(word, None)
    return tuple(seen)


def choose_terms(
    index: PieceIndex, candidates: Sequence[str], max_terms: int = MAX_QUERY_TERMS
) -> tuple[str, ...]:
    """The rarest `max_terms` of `candidates` that some piece holds and few pieces hold."""
    if not candidates:
        return ()
    counts = index.frequencies(candidates)
    total = index.piece_count()
    common = total * COMMON_SHARE if total >= COMMON_MIN_PIECES else math.inf
    ranked = []
    for order, term in enumerate(candidates):
        df = counts.get(term, 0)
        if 0 < df <= common:
            # A term in one piece only is most likely only in the window itself: last.
            ranked.append((df < 2, df, order, term))
    ranked.sort()
    return tuple(term for *_, term in ranked[:max_terms])


def find_passages(
    index: PieceIndex, text: str, terms: Sequence[str], before: int, limit: int = CANDIDATES
) -> list[Passage]:
    """Up to `limit` passages of `text` holding any of `terms`, best first, each starting
    before `before`. A piece's `start` is found in `text` by its paragraph (the latest place
    before `before` where the paragraph stands); a piece whose paragraph `text` no longer
    holds is skipped."""
    if not terms or limit < 1:
        return []
    entries = layout(text)
    inside = 0  # paragraphs reaching into the window: their pieces may top the answer
    for start, paragraph, _key in reversed(entries):
        if start + len(paragraph) <= before:
            break
        inside += 1
    wanted = set(terms)
    fetch = 2 * limit + 2 * inside
    while True:
        hits = index.search(terms, fetch)
        keys = {hit.key for hit in hits}
        starts: dict[int, list[int]] = {}
        for start, _paragraph, key in entries:
            if key in keys:
                starts.setdefault(key, []).append(start)
        found: list[Passage] = []
        seen: set[int] = set()
        for hit in hits:
            places = [s + hit.at for s in starts.get(hit.key, ()) if s + hit.at < before]
            if not places or places[-1] in seen:
                continue
            seen.add(places[-1])
            why = tuple(dict.fromkeys(w for w in words(hit.text) if w in wanted))
            found.append(Passage(hit.text, places[-1], 0, why, hit.score))
            if len(found) == limit:
                return found
        if len(hits) < fetch or fetch > 64 * (limit + inside):
            return found
        fetch *= 4  # the window's own pieces filled the answer: look further down


def fit_passages(
    passages: Sequence[Passage], cap: int, count_tokens: Callable[[str], int] = estimate_tokens
) -> list[Passage]:
    """The best passages that fit `cap` tokens together, each whole (a smaller one after a
    big one may still fit), best first, with `tokens` counted."""
    chosen = []
    used = 0
    for passage in passages:
        tokens = count_tokens(passage.text)
        if used + tokens <= cap:
            chosen.append(Passage(passage.text, passage.start, tokens, passage.why, passage.score))
            used += tokens
    return chosen


class Recaller:
    """Recall for one story across requests (see the module docstring for stability).

    `index` defaults to an in-memory one (`recallindex.memory_index`) that the Recaller brings
    up to the text it is given before each new query; an index someone else keeps current (a
    draft's index in the store, updated on save) is searched as it is. Context assembly calls
    `candidates(story, before)` and fits the passages to its cap with the model's tokenizer.
    """

    def __init__(
        self,
        index: PieceIndex | None = None,
        *,
        query_words: int = QUERY_WORDS,
        max_terms: int = MAX_QUERY_TERMS,
        limit: int = CANDIDATES,
    ) -> None:
        self.index: PieceIndex = index if index is not None else memory_index()
        self.query_words = query_words
        self.max_terms = max_terms
        self.limit = limit
        self._key: tuple[tuple[str, ...], int] | None = None
        self._last: tuple[Passage, ...] = ()
        #: The terms of the last query run (for a status line).
        self.terms: tuple[str, ...] = ()
        #: Why the last query recalled nothing because its index failed, or None.
        self.error: str | None = None
        # One query at a time: the app's requests, its context viewer and its chat run on
        # worker threads of their own.
        self._lock = threading.Lock()

    def candidates(self, story: str, before: int, query: str | None = None) -> tuple[Passage, ...]:
        """Passages of `story` starting before `before`, best first (tokens not counted),
        found by the words at the end of `query` (default: of `story`)."""
        with self._lock:
            return self._candidates(story, before, story if query is None else query)

    def _candidates(self, story: str, before: int, query: str) -> tuple[Passage, ...]:
        key = (query_terms(query, self.query_words), before)
        if key == self._key:
            return self._last
        try:
            self.index.sync(story)
            self.terms = choose_terms(self.index, key[0], self.max_terms)
            self._last = tuple(find_passages(self.index, story, self.terms, before, self.limit))
            self.error = None
        except sqlite3.Error as exc:  # a busy or damaged database: write without recall
            self.error = f"recall is off for now: the index cannot be read ({exc})"
            self._last = ()
        self._key = key
        return self._last

    def recall(
        self,
        story: str,
        before: int,
        cap: int,
        count_tokens: Callable[[str], int] = estimate_tokens,
    ) -> list[Passage]:
        """`candidates` fitted to `cap` tokens, best first."""
        return fit_passages(self.candidates(story, before), cap, count_tokens)


def surely_fits(story: str, room: int) -> bool:
    """True when `story` fits `room` tokens whatever the tokenizer counts: a byte-level BPE
    token (GPT-2's) holds at least one byte. Recall is only needed when this is False."""
    return len(story) <= room and len(story.encode("utf-8", "surrogatepass")) <= room


class TailRecaller:
    """A request's recall over a whole text when the request's story is only its tail.

    The app sends the engine the last few thousand characters before the cursor (with the
    author's idea notes taken out, and a candidate being continued added); recall must search
    everything before them. `lines` is the text up to the cursor as the editor holds it (a
    snapshot taken on the UI thread, joined here, on the worker, only when needed); `extra` is
    how many characters at the story's end are not in the text (the continued candidate).
    Passages' `start` are offsets in the joined text (a line break between lines), so the app
    can show where each stands. The window's start is placed by counting characters from the
    end; idea notes inside the window make it a little late, never early.
    """

    def __init__(self, recaller: Recaller, lines: Sequence[str], extra: int = 0) -> None:
        self.recaller = recaller
        self._lines = lines
        self._text: str | None = None
        self.extra = extra

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "\n".join(self._lines)
        return self._text

    def candidates(self, story: str, before: int, query: str | None = None) -> tuple[Passage, ...]:
        text = self.text
        window = max(0, len(story) - before - self.extra)
        return self.recaller.candidates(text, max(0, len(text) - window), query)


class FramedRecaller:
    """Recall for a prompt whose last `framing` characters are not the story (a chat's scene
    break and transcript): passages of the story before them, found by `query`'s words (what
    is being said), through `recaller` (a Recaller or a TailRecaller)."""

    def __init__(self, recaller: Any, query: str, framing: int) -> None:
        self.recaller = recaller
        self.query = query
        self.framing = framing

    def candidates(self, story: str, before: int) -> tuple[Passage, ...]:
        cut = max(0, len(story) - self.framing)
        return self.recaller.candidates(story[:cut], min(before, cut), self.query)


def recall(
    text: str,
    before: int,
    cap: int,
    *,
    index: PieceIndex | None = None,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> list[Passage]:
    """One-off recall: passages of `text` starting before `before`, best first, within `cap`
    tokens (an in-memory index is built for `text` when none is given)."""
    return Recaller(index).recall(text, before, cap, count_tokens)
