"""Turning database rows into Drafts and Revisions without trusting them.

A database edited by another program (or a foreign one) can hold a BLOB where text belongs, a
string where a number belongs, or an ID beyond SQLite's 64-bit range in a query. Such a row must
never crash writer: what can be read is used, a text that is not text makes the row unreadable
(BadRowError, one line), and listings skip it with a message.
"""

from __future__ import annotations

import json
from typing import Any

from writer.errors import WriterError
from writer.store.models import Draft, Revision, word_count

# SQLite integers are signed 64-bit.
MAX_ID = 2**63 - 1

DRAFT_COLUMNS = (
    "id, title, text, created, updated, preset, overrides, model, cursor_row, cursor_col, "
    "external_path, scroll_row, word_goal"
)

PREVIEW_CHARS = 60


class BadRowError(WriterError):
    """A row whose text cannot be read as text."""


def lenient_text(raw: bytes) -> str | bytes:
    """sqlite3 text_factory: a TEXT value that is not valid UTF-8 (a damaged or tampered file)
    comes back as bytes, so that one row is reported unreadable instead of failing the query
    that lists every draft."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def in_range(value: int) -> bool:
    """Whether `value` can be an ID in SQLite (a larger one names no row)."""
    return isinstance(value, int) and -MAX_ID - 1 <= value <= MAX_ID


def as_text(value: object) -> str | None:
    """A text column's value as str: UTF-8 BLOBs are decoded; anything else is None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def label(value: object) -> str:
    """A short text column (title, reason) as str, whatever was stored."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def timestamp(value: object) -> float:
    """A timestamp: a number a clock could give (time.localtime fails beyond), else 0."""
    if not isinstance(value, int | float) or not -(2**40) < value < 2**40:
        return 0.0  # also NaN, which compares False
    return float(value)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) else None


def text_problem(value: object) -> str:
    """Why a text column's value is not readable text."""
    if value is None:
        return "its text is missing (NULL)"
    if isinstance(value, bytes):
        return "its text is stored as binary data that is not UTF-8"
    return f"its text is stored as a {type(value).__name__}, not text"


def draft_text(draft_id: object, value: object) -> str:
    """The draft's text, or BadRowError saying why it cannot be read."""
    text = as_text(value)
    if text is None:
        raise BadRowError(
            f"draft {draft_id} cannot be read: {text_problem(value)} (was the database changed "
            "by another program?); `writer drafts list` shows the readable ones"
        )
    return text


def draft_from_row(row: tuple) -> Draft:
    """A Draft from a DRAFT_COLUMNS row; BadRowError if its text is not text."""
    (did, title, text, created, updated, preset, overrides, model, row_, col, ext) = row[:11]
    scroll = row[11] if len(row) > 11 else None  # rows of an older schema (salvage) lack them
    goal = row[12] if len(row) > 12 else None
    try:
        parsed = json.loads(overrides) if isinstance(overrides, str) else {}
    except ValueError:
        parsed = {}
    return Draft(
        id=did,
        title=label(title),
        text=draft_text(did, text),
        created=timestamp(created),
        updated=timestamp(updated),
        preset=_optional(preset),
        overrides=parsed if isinstance(parsed, dict) else {},
        model=_optional(model),
        cursor=(max(0, _int(row_)), max(0, _int(col))),
        external_path=_optional(ext),
        scroll=max(0, scroll) if isinstance(scroll, int) else None,
        word_goal=goal if isinstance(goal, int) and 0 < goal < 2**31 else None,
    )


def preview(text: str) -> str:
    """The end of the text on one line: what the writer last wrote is what identifies a state.
    Only the tail is flattened (a save of a long draft computes this)."""
    size = PREVIEW_CHARS * 4
    while True:
        flat = " ".join(text[-size:].split())
        # A word cut at the start of the tail only changes the part that is not kept.
        if size >= len(text) or len(flat) > PREVIEW_CHARS:
            break
        size *= 8
    return flat if len(flat) <= PREVIEW_CHARS else "…" + flat[-(PREVIEW_CHARS - 1) :]


def revision_from_row(row: tuple) -> Revision:
    """A Revision from (id, draft_id, created, reason, text); BadRowError if text is bad."""
    rid, draft_id, created, reason, value = row
    text = as_text(value)
    if text is None:
        raise BadRowError(
            f"revision {rid} cannot be read: {text_problem(value)} (was the database changed "
            "by another program?)"
        )
    return Revision(
        rid, draft_id, timestamp(created), word_count(text), label(reason), preview(text), text
    )


def json_value(value: Any, default: Any) -> Any:
    """A JSON column's value, or `default` when it is not valid JSON of the same kind."""
    if not isinstance(value, str | bytes):
        return default
    try:
        parsed = json.loads(value)
    except ValueError:
        return default
    return parsed if isinstance(parsed, type(default)) else default


def unreadable_drafts_warning(conn: Any) -> str | None:
    """One line naming the drafts whose text is not text (skipped by listings), or None."""
    # Every text is looked at (not only typeof() != 'text'): a TEXT value may be invalid UTF-8.
    bad = [(did, value) for did, value in conn.execute("SELECT id, text FROM drafts")]
    bad = [(did, value) for did, value in bad if as_text(value) is None]
    if not bad:
        return None
    ids = ", ".join(str(did) for did, _ in bad[:10]) + (", ..." if len(bad) > 10 else "")
    return (
        f"{len(bad)} draft(s) cannot be read and are skipped (ID {ids}: "
        f"{text_problem(bad[0][1])}); the database was probably changed by another program"
    )
