"""Revision rows on disk: small texts as they are, larger ones as a delta against a compressed
base (writer.store.deltas explains the format and why). Used by DraftStore inside its
transactions and by migration 5, which converts the rows older versions wrote.

Row shapes in `revisions`: `text` holds the whole text and `base_id`/`delta` are NULL (texts
under KEEP_PLAIN_BELOW, rows from before migration 5 that could not be read, salvaged rows), or
`text` is '' and the text is `apply_delta(base, delta)` with the base from `revision_bases`.
Every row also holds its text's word count and preview line (`words`, `preview`), so a history
listing rebuilds no text; NULL only where the text could not be read when they were filled.
"""

from __future__ import annotations

import sqlite3

from writer.store.deltas import apply_delta, compress_text, decompress_text, make_delta
from writer.store.models import word_count
from writer.store.rows import as_text, preview

# Texts shorter than this stay plain: a few KB cost little, and stay readable with plain SQL.
KEEP_PLAIN_BELOW = 4096
# A base serves at most this many revisions, and none whose delta would be over 1/REBASE_RATIO
# of the base's compressed size: after that much drift a fresh base is cheaper than the deltas.
BASE_EVERY = 50
REBASE_RATIO = 8

BaseCache = dict[int, str]


def _base_text(conn: sqlite3.Connection, base_id: int, data: object, cache: BaseCache) -> str:
    if base_id in cache:
        return cache[base_id]
    if data is None:
        row = conn.execute("SELECT data FROM revision_bases WHERE id = ?", (base_id,)).fetchone()
        if row is None:
            raise ValueError(f"its base {base_id} is missing")
        data = row[0]
    if not isinstance(data, bytes):
        raise ValueError(f"its base {base_id} is not stored data")
    text = decompress_text(data)
    if len(cache) >= 4:  # a history screen reads a few bases; a save needs one
        cache.pop(next(iter(cache)))
    cache[base_id] = text
    return text


def store_revision(
    conn: sqlite3.Connection,
    draft_id: int,
    text: str,
    created: float,
    reason: str,
    cache: BaseCache,
    rid: int | None = None,
) -> int:
    """Insert a revision row (with ID `rid` when given) and return its ID."""
    if len(text) < KEEP_PLAIN_BELOW:
        base_id, delta, plain = None, None, text
    else:
        plain, delta = "", None
        row = conn.execute(
            "SELECT id, data FROM revision_bases WHERE draft_id = ? ORDER BY id DESC LIMIT 1",
            (draft_id,),
        ).fetchone()
        if row is not None:
            base_id = int(row[0])
            served = conn.execute(
                "SELECT count(*) FROM revisions WHERE draft_id = ? AND base_id = ?",
                (draft_id, base_id),
            ).fetchone()[0]
            if served < BASE_EVERY:
                try:
                    delta = make_delta(_base_text(conn, base_id, row[1], cache), text)
                except ValueError:
                    delta = None  # a damaged base: start a new one
                if delta is not None and len(delta) * REBASE_RATIO > len(row[1]):
                    delta = None
        if delta is None:
            cur = conn.execute(
                "INSERT INTO revision_bases (draft_id, data) VALUES (?, ?)",
                (draft_id, compress_text(text)),
            )
            base_id = int(cur.lastrowid)
            cache[base_id] = text
            delta = make_delta(text, text)
    cur = conn.execute(
        "INSERT INTO revisions (id, draft_id, text, created, reason, base_id, delta, words, "
        "preview) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rid, draft_id, plain, created, reason, base_id, delta, word_count(text), preview(text)),
    )
    return int(cur.lastrowid)


def revision_text(
    conn: sqlite3.Connection, text: object, base_id: object, delta: object, cache: BaseCache
) -> str:
    """A revision row's text; ValueError (saying why) when it cannot be rebuilt."""
    if base_id is None:
        value = as_text(text)
        if value is None:
            raise ValueError("its text is not readable text")
        return value
    if not isinstance(base_id, int) or not isinstance(delta, bytes):
        raise ValueError("its delta is not stored data")
    return apply_delta(_base_text(conn, base_id, None, cache), delta)


def drop_unused_bases(conn: sqlite3.Connection, draft_id: int) -> None:
    """Delete the draft's bases that no revision uses any more (after pruning)."""
    conn.execute(
        "DELETE FROM revision_bases WHERE draft_id = ? AND id NOT IN "
        "(SELECT base_id FROM revisions WHERE draft_id = ? AND base_id IS NOT NULL)",
        (draft_id, draft_id),
    )


def pack_existing(conn: sqlite3.Connection) -> None:
    """Migration 7's data step: rewrite every plain revision row of KEEP_PLAIN_BELOW characters
    or more as base + delta, oldest first, keeping IDs, times and reasons, and fill `words` and
    `preview` of every row. A row whose text cannot be read stays as it is, without them
    (history leaves it out; salvage may still read it)."""
    ids = conn.execute(
        "SELECT id FROM revisions WHERE words IS NULL OR preview IS NULL ORDER BY draft_id, id"
    ).fetchall()
    cache: BaseCache = {}
    for (rid,) in ids:  # one row at a time: an old database may hold hundreds of MB of texts
        row = conn.execute(
            "SELECT draft_id, text, created, reason, base_id, delta FROM revisions WHERE id = ?",
            (rid,),
        ).fetchone()
        draft_id, value, created, reason, base_id, delta = row
        try:
            text = revision_text(conn, value, base_id, delta, cache)
        except ValueError:
            continue
        if base_id is None and len(text) >= KEEP_PLAIN_BELOW:
            conn.execute("DELETE FROM revisions WHERE id = ?", (rid,))
            store_revision(conn, draft_id, text, created, reason, cache, rid=rid)
        else:
            conn.execute(
                "UPDATE revisions SET words = ?, preview = ? WHERE id = ?",
                (word_count(text), preview(text), rid),
            )
