"""The recall index in the drafts database: each draft's pieces (engine/story/pieces.py) in one
SQLite FTS5 table, kept current paragraph by paragraph, searched with `bm25()`.

    CREATE VIRTUAL TABLE recall_pieces USING fts5(draft, key UNINDEXED, at UNINDEXED, text)

`draft` is the token `d<draft id>`, so a search reads only that draft's pieces (`draft : d7 AND
text : (...)`); `key` is the paragraph's hash and `at` the piece's offset in it, so a piece's
place is found again in the text at query time (recall.find_passages) and nothing needs
renumbering when text before it changes. An FTS5 table that keeps its own copy of the text (no
external content, no triggers): deleting drafts never touches it, so a SQLite built without FTS5
still opens, edits and salvages the database; the pieces of a deleted draft go with `forget`.

The index is derived data: `update(draft_id, text)` brings a draft's pieces up to `text` (new
paragraphs indexed, vanished ones dropped), inside the caller's transaction when there is one;
a salvaged store starts without it and the next update rebuilds it. Salvage never reads it as
writer's rows (its rows' shapes match none of them; tests/store/test_recall_index.py checks).

Word counts for rarity (`frequencies`, `piece_count`) are over the pieces of every draft, which
for a store of one manuscript is that manuscript.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

from writer.engine.story.pieces import (
    Hit,
    fts5_missing,
    layout,
    match_expression,
    split_pieces,
)

TABLE = "recall_pieces"
_CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING "
    "fts5(draft, key UNINDEXED, at UNINDEXED, text, tokenize = 'unicode61')",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_vocab USING fts5vocab({TABLE}, row)",
)


def create_schema(conn: sqlite3.Connection) -> None:
    """The migration step: the index's tables where this SQLite has FTS5 (else none; `update`
    creates them once a SQLite with FTS5 opens the database)."""
    if fts5_missing() is None:
        for statement in _CREATE:
            conn.execute(statement)


def _token(draft_id: int) -> str:
    return f"d{int(draft_id)}"


class RecallIndex:
    """The recall index on a drafts database connection (the store's, in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock | None = None) -> None:
        self._conn = conn
        #: Held around every use of the connection by a draft's pieces (the store's lock).
        self.lock = lock if lock is not None else threading.RLock()
        #: Why recall cannot use this database's index (no FTS5), or None.
        self.unavailable: str | None = fts5_missing()
        self._cache: dict[int, dict[int, list[int]]] = {}  # draft -> paragraph key -> row ids
        self._version: int | None = None  # PRAGMA data_version when the cache was read

    def _ready(self) -> bool:
        if self.unavailable is not None:
            return False
        for statement in _CREATE:
            self._conn.execute(statement)
        return True

    def _transaction(self) -> bool:
        """Begin one unless the caller holds one; True when we must commit."""
        if self._conn.in_transaction:
            return False
        self._conn.execute("BEGIN IMMEDIATE")
        return True

    def update(self, draft_id: int, text: str) -> int:
        """Bring the draft's pieces up to `text`; returns how many pieces were (re)indexed.

        Inside the caller's transaction (under a savepoint, so a failure here undoes only the
        index's rows) or in one of its own. What the draft has stored is remembered between
        calls, so an update costs a split and hash of the text (cached per paragraph) and the
        changed paragraphs' rows, not a read of the whole index; `invalidate` forgets it when
        the caller's transaction rolls back, and a commit by another connection (PRAGMA
        data_version) makes it read again."""
        if self.unavailable is not None:
            return 0
        own = self._transaction()
        if not own:
            self._conn.execute("SAVEPOINT recall_update")
        try:
            self._ready()
            current: dict[int, str] = {}
            for _start, paragraph, key in layout(text):
                current.setdefault(key, paragraph)
            stored = self._stored(draft_id)
            gone = [key for key in stored if key not in current]
            rowids = [rowid for key in gone for rowid in stored[key]]
            for at in range(0, len(rowids), 500):
                chunk = rowids[at : at + 500]
                marks = ",".join("?" * len(chunk))
                self._conn.execute(f"DELETE FROM {TABLE} WHERE rowid IN ({marks})", chunk)
            added: dict[int, list[int]] = {}
            insert = f"INSERT INTO {TABLE} (draft, key, at, text) VALUES (?, ?, ?, ?)"
            for key, paragraph in current.items():
                if key not in stored:
                    added[key] = [
                        int(
                            self._conn.execute(
                                insert, (_token(draft_id), key, piece.at, piece.text)
                            ).lastrowid
                            or 0
                        )
                        for piece in split_pieces(paragraph)
                    ]
            if own:
                self._conn.execute("COMMIT")
            else:
                self._conn.execute("RELEASE recall_update")
        except BaseException:
            self._cache.pop(int(draft_id), None)
            if own and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            elif not own:
                self._conn.execute("ROLLBACK TO recall_update")
                self._conn.execute("RELEASE recall_update")
            raise
        for key in gone:
            del stored[key]
        stored.update(added)
        return sum(len(r) for r in added.values())

    def invalidate(self, draft_id: int | None = None) -> None:
        """Forget what a draft (or every draft) has stored: the transaction that held an
        update rolled back."""
        if draft_id is None:
            self._cache.clear()
        else:
            self._cache.pop(int(draft_id), None)

    def _stored(self, draft_id: int) -> dict[int, list[int]]:
        """The draft's stored pieces, paragraph key -> row ids (remembered; see `update`)."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._cache.clear()
            self._version = version
        stored = self._cache.get(int(draft_id))
        if stored is None:
            stored = {}
            for rowid, key in self._conn.execute(
                f"SELECT rowid, key FROM {TABLE} WHERE {TABLE} MATCH ?",
                (f"draft : {_token(draft_id)}",),
            ):
                stored.setdefault(key, []).append(rowid)
            self._cache[int(draft_id)] = stored
        return stored

    def forget(self, draft_id: int) -> None:
        """Drop a draft's pieces (when the draft is deleted)."""
        self._cache.pop(int(draft_id), None)
        if self.unavailable is not None or not self._has_table():
            return
        own = self._transaction()
        try:
            self._conn.execute(
                f"DELETE FROM {TABLE} WHERE rowid IN "
                f"(SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ?)",
                (f"draft : {_token(draft_id)}",),
            )
            if own:
                self._conn.execute("COMMIT")
        except BaseException:
            if own and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _has_table(self) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
        return row is not None

    def draft(self, draft_id: int, *, catch_up: bool = False) -> DraftPieces:
        """The draft's pieces as a recall.PieceIndex (for `Recaller(index)`), searched under
        the lock the index was given. With `catch_up`, the first `sync` brings the index up to
        the text it is given (a draft saved before the index existed, or by another program),
        where the database can be written; later ones do nothing (the saves keep it)."""
        return DraftPieces(self, draft_id, catch_up=catch_up)


class DraftPieces:
    """One draft's pieces in the index: what `recall.Recaller` searches."""

    def __init__(self, index: RecallIndex, draft_id: int, *, catch_up: bool = False) -> None:
        self._index = index
        self._conn = index._conn
        self._lock = index.lock
        self._id = int(draft_id)
        self._draft = _token(draft_id)
        self._catch_up = catch_up
        self._ready = self._check()

    def _check(self) -> bool:
        with self._lock:
            return self._index.unavailable is None and self._index._has_table()

    def sync(self, text: str) -> None:
        """Once, with `catch_up`: the draft's index brought up to `text` (see RecallIndex.draft)."""
        if not self._catch_up:
            return
        self._catch_up = False
        with self._lock:
            try:
                self._index.update(self._id, text)
            except sqlite3.Error:
                pass  # read-only or busy: search what is there
        self._ready = self._check()

    def piece_count(self) -> int:
        if not self._ready:
            return 0
        # The shadow table of per-piece sizes has one row a piece: a plain b-tree count.
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {TABLE}_docsize").fetchone()[0])

    def frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        if not terms or not self._ready:
            return {}
        # One lookup a term: fts5vocab answers `term = ?` from the index but scans for `IN`.
        found = {}
        with self._lock:
            for term in terms:
                row = self._conn.execute(
                    f"SELECT doc FROM {TABLE}_vocab WHERE term = ?", (term,)
                ).fetchone()
                if row is not None:
                    found[term] = int(row[0])
        return found

    def search(self, terms: Sequence[str], limit: int) -> list[Hit]:
        if not terms or not self._ready:
            return []
        query = f"draft : {self._draft} AND text : ({match_expression(terms)})"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT key, at, text, bm25({TABLE}, 0, 0, 0, 1) AS score FROM {TABLE} "
                f"WHERE {TABLE} MATCH ? ORDER BY score LIMIT ?",
                (query, limit),
            ).fetchall()
        return [Hit(key, at, text, -score) for key, at, text, score in rows]
