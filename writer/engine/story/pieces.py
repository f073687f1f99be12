"""The manuscript in pieces for recall: paragraphs, sentence-bounded pieces, words, and the
shape every piece index has (engine/story/recallindex.py in memory, store/recall.py on disk).

Pieces: each line of the text is a paragraph; a paragraph up to MAX_PIECE_CHARS is one piece,
a longer one is cut into whole sentences grouped up to that size (a sentence longer than that is
cut at a space). Blank lines and `[Idea: ...]` note lines are never indexed. A piece is kept
under its paragraph's hash (`key`) and its offset in the paragraph (`at`), never its place in
the text: the place is found again in the text given at query time, so an index a save behind
never points at the wrong text, and editing one paragraph re-indexes only that paragraph.

Words are split the way SQLite FTS5's `unicode61` tokenizer splits them (letters and digits,
lower-cased), so the terms a query sends and the terms reported as matched agree.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_PIECE_CHARS = 240  # about 60 GPT-2 tokens; also keeps a stored piece on one database page

WORD = re.compile(r"[^\W_]+")
IDEA_LINE = re.compile(r"^\[Idea: .*\]$")
# A sentence ends at . ! ? or … (with closing quotes or brackets) before a space or the end of
# the text, or at a line break.
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)|\n")


@dataclass(frozen=True)
class Piece:
    """A stretch of a paragraph: `key` (the paragraph's hash) and `at` (offset in it) find it
    in any later version of the text that still holds the paragraph."""

    key: int
    at: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A piece an index found for a query, with its BM25 score (higher is better)."""

    key: int
    at: int
    text: str
    score: float


class PieceIndex(Protocol):
    """What recall searches: recallindex.MemoryIndex, or a draft's index in the store."""

    def sync(self, text: str) -> None:
        """Bring the index up to `text` (a no-op for an index someone else keeps current)."""

    def piece_count(self) -> int:
        """How many pieces the index holds."""

    def frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """How many pieces hold each term (terms in none may be left out)."""

    def search(self, terms: Sequence[str], limit: int) -> list[Hit]:
        """The best `limit` pieces holding any of `terms`, best first."""


def words(text: str) -> list[str]:
    """Lower-cased words, split as SQLite FTS5's unicode61 tokenizer splits them."""
    return WORD.findall(text.lower())


@functools.lru_cache(maxsize=1 << 16)
def paragraph_key(paragraph: str) -> int:
    """A paragraph's 64-bit hash, as a signed integer (SQLite's INTEGER). Remembered: every
    request hashes every paragraph of the story, and all but one are the same as last time."""
    data = paragraph.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def paragraphs(text: str) -> list[tuple[int, str]]:
    """(start, paragraph) for each line of `text` that is not blank or an `[Idea: ...]` note."""
    return [(start, paragraph) for start, paragraph, _key in layout(text)]


@functools.lru_cache(maxsize=4)
def layout(text: str) -> tuple[tuple[int, str, int], ...]:
    """(start, paragraph, key) for each paragraph of `text`. Remembered for the last few texts:
    one request syncs an index and places its pieces on the same text."""
    found = []
    start = 0
    # str.split runs in C: on a 1 MB manuscript several times faster than a regular expression.
    for line in text.split("\n"):
        # A "\r\n" text (a file saved on Windows) gives the same paragraphs as its "\n" form.
        paragraph = line[:-1] if line.endswith("\r") else line
        if paragraph and not paragraph.isspace():
            if not (paragraph.startswith("[Idea: ") and IDEA_LINE.match(paragraph)):
                found.append((start, paragraph, paragraph_key(paragraph)))
        start += len(line) + 1
    return tuple(found)


def split_paragraph(paragraph: str) -> list[tuple[int, str]]:
    """(offset, piece) for a paragraph: whole sentences grouped up to MAX_PIECE_CHARS, each
    piece without its surrounding spaces."""
    raw: list[tuple[int, int]] = []
    if len(paragraph) <= MAX_PIECE_CHARS:
        raw.append((0, len(paragraph)))
    else:
        bounds = [m.end() for m in SENTENCE_END.finditer(paragraph)] + [len(paragraph)]
        begin = end = 0
        for bound in bounds:
            if bound - begin > MAX_PIECE_CHARS and end > begin:
                raw.append((begin, end))
                begin = end
            while bound - begin > MAX_PIECE_CHARS:  # one sentence too long: cut at a space
                cut = paragraph.rfind(" ", begin + 1, begin + MAX_PIECE_CHARS)
                cut = cut if cut > begin else begin + MAX_PIECE_CHARS
                raw.append((begin, cut))
                begin = cut
            end = bound
        if end > begin:
            raw.append((begin, end))
    out = []
    for begin, end in raw:
        piece = paragraph[begin:end]
        stripped = piece.lstrip()
        if stripped.strip():
            out.append((begin + len(piece) - len(stripped), stripped.rstrip()))
    return out


def split_pieces(paragraph: str) -> list[Piece]:
    """The pieces of one paragraph, under its key."""
    key = paragraph_key(paragraph)
    return [Piece(key, at, text) for at, text in split_paragraph(paragraph)]


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query matching any of `terms` (each is letters and digits only, from `words`)."""
    return " OR ".join(f'"{term}"' for term in terms)


def fts5_missing() -> str | None:
    """None when this Python's SQLite has FTS5, else the one-line reason it is missing."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.Error:
        return (
            f"this Python's SQLite {sqlite3.sqlite_version} was built without FTS5; "
            "recall scores in Python instead (slower on long drafts)"
        )
    finally:
        conn.close()
    return None
