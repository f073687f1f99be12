"""Piece indexes held in memory for recall: SQLite FTS5 with `bm25()`, or the same BM25 in
Python where SQLite was built without FTS5 (`memory_index` picks).

Both are kept in step with a text by `sync(text)`, which hashes each paragraph and re-indexes
only the paragraphs that are new (a paragraph no longer in the text loses its pieces), so
calling it on every request costs a split and a hash of the text, not a rebuild: on a 1 MB
manuscript a few milliseconds once built (bench/recall.py).
"""

from __future__ import annotations

import math
import sqlite3
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence

from writer.engine.story.pieces import (
    Hit,
    Piece,
    fts5_missing,
    layout,
    match_expression,
    split_pieces,
    words,
)

# FTS5's bm25() constants, so both indexes rank alike.
K1 = 1.2
B = 0.75


class SyncedIndex(ABC):
    """An index of one text's pieces, updated paragraph by paragraph."""

    def __init__(self) -> None:
        self._rows: dict[int, list[int]] = {}  # paragraph key -> its pieces' row ids

    def sync(self, text: str) -> None:
        """Index the paragraphs of `text` that are new; forget those no longer there."""
        current: dict[int, str] = {}
        for _start, paragraph, key in layout(text):
            current.setdefault(key, paragraph)
        for key in [k for k in self._rows if k not in current]:
            for rowid in self._rows.pop(key):
                self._remove(rowid)
        new = [(key, p) for key, p in current.items() if key not in self._rows]
        for key, paragraph in new:
            self._rows[key] = [self._add(piece) for piece in split_pieces(paragraph)]
        self._synced()

    def _synced(self) -> None:  # noqa: B027 - an optional hook
        """Called after a sync (FTS5 commits here)."""

    @abstractmethod
    def _add(self, piece: Piece) -> int: ...

    @abstractmethod
    def _remove(self, rowid: int) -> None: ...

    @abstractmethod
    def piece_count(self) -> int: ...

    @abstractmethod
    def frequencies(self, terms: Sequence[str]) -> dict[str, int]: ...

    @abstractmethod
    def search(self, terms: Sequence[str], limit: int) -> list[Hit]: ...


class MemoryIndex(SyncedIndex):
    """SQLite FTS5 in memory (raises sqlite3.OperationalError where FTS5 is missing)."""

    def __init__(self) -> None:
        super().__init__()
        # check_same_thread=False: built on the UI thread, searched from a generation worker;
        # the Recaller that owns it is used by one request at a time.
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute(
            "CREATE VIRTUAL TABLE pieces USING fts5(text, key UNINDEXED, at UNINDEXED)"
        )
        self._conn.execute("CREATE VIRTUAL TABLE vocab USING fts5vocab(pieces, row)")
        self._count = 0

    def _add(self, piece: Piece) -> int:
        cursor = self._conn.execute(
            "INSERT INTO pieces (text, key, at) VALUES (?, ?, ?)", (piece.text, piece.key, piece.at)
        )
        self._count += 1
        return int(cursor.lastrowid or 0)

    def _remove(self, rowid: int) -> None:
        self._conn.execute("DELETE FROM pieces WHERE rowid = ?", (rowid,))
        self._count -= 1

    def _synced(self) -> None:
        self._conn.commit()

    def piece_count(self) -> int:
        return self._count

    def frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        if not terms:
            return {}
        # One lookup a term: fts5vocab answers `term = ?` from the index but scans for `IN`.
        found = {}
        for term in terms:
            row = self._conn.execute("SELECT doc FROM vocab WHERE term = ?", (term,)).fetchone()
            if row is not None:
                found[term] = int(row[0])
        return found

    def search(self, terms: Sequence[str], limit: int) -> list[Hit]:
        if not terms:
            return []
        rows = self._conn.execute(
            "SELECT key, at, text, bm25(pieces) FROM pieces WHERE pieces MATCH ? "
            "ORDER BY rank LIMIT ?",
            (match_expression(terms), limit),
        )
        return [Hit(key, at, text, -score) for key, at, text, score in rows]


class PythonIndex(SyncedIndex):
    """The same BM25 as FTS5's `bm25()`, in Python: for a SQLite built without FTS5.

    Hand-written because it has to rank exactly as the FTS5 index does over the same pieces;
    the BM25 libraries on PyPI each tokenize and weigh in their own way.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pieces: dict[int, tuple[Piece, int]] = {}  # row id -> piece, its word count
        self._postings: dict[str, dict[int, int]] = {}  # term -> row id -> occurrences
        self._next = 1
        self._total_words = 0

    def _add(self, piece: Piece) -> int:
        rowid = self._next
        self._next += 1
        found = words(piece.text)
        self._pieces[rowid] = (piece, len(found))
        self._total_words += len(found)
        for term, count in Counter(found).items():
            self._postings.setdefault(term, {})[rowid] = count
        return rowid

    def _remove(self, rowid: int) -> None:
        piece, length = self._pieces.pop(rowid)
        self._total_words -= length
        for term in set(words(piece.text)):
            postings = self._postings.get(term, {})
            postings.pop(rowid, None)
            if not postings:
                self._postings.pop(term, None)

    def piece_count(self) -> int:
        return len(self._pieces)

    def frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        return {t: len(self._postings[t]) for t in terms if t in self._postings}

    def search(self, terms: Sequence[str], limit: int) -> list[Hit]:
        n = len(self._pieces)
        if not n or limit < 1:
            return []
        average = self._total_words / n
        scores: dict[int, float] = {}
        for term in dict.fromkeys(terms):
            postings = self._postings.get(term, {})
            if not postings:
                continue
            idf = math.log((n - len(postings) + 0.5) / (len(postings) + 0.5))
            idf = max(idf, 1e-6)  # as FTS5: a term in most pieces still counts a little
            for rowid, tf in postings.items():
                length = self._pieces[rowid][1]
                norm = tf + K1 * (1 - B + B * length / average)
                scores[rowid] = scores.get(rowid, 0.0) + idf * tf * (K1 + 1) / norm
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [Hit(p.key, p.at, p.text, s) for rowid, s in best for p in [self._pieces[rowid][0]]]


def memory_index() -> SyncedIndex:
    """An FTS5 index where this SQLite has FTS5, else the Python one (`fts5_missing` says why)."""
    if fts5_missing() is None:
        return MemoryIndex()
    return PythonIndex()
