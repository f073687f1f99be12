"""Telling salvaged rows apart: which of writer's tables a row read from a damaged database
belongs to, by its shape (column count and types), since the schema may be gone, and whether a
row SQLite returned holds text where writer keeps text. Used by writer.store.salvage."""

from __future__ import annotations

import json

from writer.store.chats import SPEAKERS
from writer.store.rows import as_text


def _num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def classify(rowid: int, values: list, complete: bool = True) -> tuple[str, tuple] | None:
    """Which of writer's tables a row with these column values belongs to, by its shape.

    A row cut short (`complete` False: its overflow pages are gone) has only its first columns;
    a draft, revision, chat or chat turn whose text at least began is still kept, padded with
    NULLs."""
    v = list(values)
    if not complete:
        if len(v) < 3 or v[0] not in (None, rowid) or not isinstance(v[2], str):
            return None
        cut = len(v)
        v += [None] * (11 - len(v))
        if isinstance(v[1], str):
            return "drafts", (rowid, *v[1:11])
        if cut >= 4 and isinstance(v[1], int) and isinstance(v[3], str):
            created = as_float(v[4])
            if v[2] in SPEAKERS:  # a turn's text cut short
                return "turns", (rowid, v[1], v[2], v[3], created)
            return "chats", (rowid, v[1], v[2], v[3], created, as_float(v[5]))  # about cut
        if isinstance(v[1], int) and v[5] is None:  # a delta cut short cannot be applied
            created = float(v[3]) if _num(v[3]) else 0.0
            reason = v[4] if isinstance(v[4], str) else "recovered"
            return "revisions", (rowid, v[1], v[2], created, reason, None, None)
        return None
    if len(v) == 2 and v[0] in _SEQUENCES and isinstance(v[1], int):
        return "sequence", (v[0], v[1])
    if len(v) == 2 and v[0] is None and _is_context(v[1]):
        return "contexts", (rowid, v[1])
    if len(v) == 3 and v[0] is None and isinstance(v[1], int) and isinstance(v[2], bytes):
        return "bases", (rowid, v[1], v[2])
    if len(v) < 5 or v[0] not in (None, rowid):
        return None
    if len(v) >= 11 and isinstance(v[1], str) and _num(v[3]) and _num(v[4]):
        if as_text(v[2]) is not None:
            return "drafts", (rowid, *v[1:11])
    elif len(v) >= 10 and isinstance(v[1], int) and _num(v[2]) and isinstance(v[3], str):
        if isinstance(v[4], str) and isinstance(v[8], str):
            return "generations", (rowid, *v[1:10])
    elif isinstance(v[1], int) and isinstance(v[2], str) and _num(v[3]) and isinstance(v[4], str):
        base_id, delta = (v[5], v[6]) if len(v) >= 7 else (None, None)
        return "revisions", (rowid, v[1], v[2], float(v[3]), v[4], base_id, delta)
    elif isinstance(v[1], int) and isinstance(v[2], str) and isinstance(v[3], str):
        if len(v) == 5 and v[2] in SPEAKERS and _num(v[4]):
            return "turns", (rowid, v[1], v[2], v[3], float(v[4]))
        if len(v) == 6 and _num(v[4]) and _num(v[5]):
            return "chats", (rowid, v[1], v[2], v[3], float(v[4]), float(v[5]))
    return None


_SEQUENCES = ("drafts", "revisions", "generations", "revision_bases", "chats", "chat_turns")


def _is_context(value: object) -> bool:
    """A story context row's JSON (writer.store.context): an object, not any two-column row."""
    from writer.store.context import context_from_dict

    text = as_text(value)
    if text is None or not text.startswith("{"):
        return False
    try:
        context_from_dict(json.loads(text), "a salvaged story context")
    except Exception:
        return False
    return True


def classify_row(table: str, row: tuple) -> bool:
    """Whether a row SQLite returned for `table` has text where writer keeps text. SQLite does
    not check what it reads from an overflow page: a NUL means a wiped page, and the page scan
    (which cuts the text there and says so) is left to read that row."""
    if table == "bases":
        return isinstance(row[1], int) and isinstance(row[2], bytes)
    if table == "contexts":
        return _is_context(row[1])
    if table == "chats":
        return isinstance(row[1], int) and isinstance(row[2], str) and isinstance(row[3], str)
    if table == "turns":
        text = row[3]
        return row[2] in SPEAKERS and isinstance(text, str) and "\0" not in text
    value = row[2] if table in ("drafts", "revisions") else row[8]
    text = as_text(value) if table == "drafts" else value
    return isinstance(text, str) and "\0" not in text


def as_float(value: object) -> float:
    return float(value) if _num(value) else 0.0
