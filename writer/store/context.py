"""A draft's story context (memory, author's note, lorebook) in the store and in exported files.

In the database: one JSON row per draft in `story_contexts` (no row: an empty context), written
in one transaction like the text, so a kill -9 leaves the old context or the new one.

In an exported Markdown file: a TOML front-matter block between `+++` lines at the very top,
only when the context is not empty, in the lorebook file's shape plus memory and note:

    +++
    memory = "..."
    note = "..."
    note_depth = 3
    scan_depth = 256
    recall_tokens = 0        # only when set: the draft's recall cap (0: off; docs/recall.md)

    [[entry]]
    keys = ["dragon"]
    text = "..."
    +++

`writer drafts import` reads it back (and a lorebook file is the same block without memory).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from writer.engine.story.context import DEFAULT_NOTE_DEPTH, DEFAULT_SCAN_DEPTH, StoryContext
from writer.engine.story.lorebook import parse_lorebook
from writer.errors import WriterError
from writer.store.core import StoreCore
from writer.store.rows import BadRowError, as_text

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

FRONT = "+++"
_FIELDS = ("memory", "note", "note_depth", "scan_depth", "recall_tokens")


def context_to_dict(context: StoryContext) -> dict[str, Any]:
    """The context as plain data (front matter's and the database's shape)."""
    data: dict[str, Any] = {"memory": context.memory, "note": context.note}
    data["note_depth"] = context.note_depth
    data["scan_depth"] = context.scan_depth
    if context.recall_tokens is not None:
        data["recall_tokens"] = context.recall_tokens
    if context.lorebook:
        data["entry"] = [e.to_dict() for e in context.lorebook]
    return data


def context_from_dict(data: Any, source: str) -> StoryContext:
    """A validated StoryContext from `context_to_dict`'s shape; one-line WriterError naming
    `source` otherwise."""
    if not isinstance(data, dict):
        raise WriterError(f"{source}: expected a table of memory, note, ... and [[entry]]")
    unknown = set(data) - {*_FIELDS, "entry"}
    if unknown:
        raise WriterError(
            f"{source}: unknown key {sorted(unknown)[0]!r}; allowed: "
            f"{', '.join((*_FIELDS, 'entry'))}"
        )
    lore = parse_lorebook({"entry": data["entry"]} if "entry" in data else {}, source)
    try:
        return StoryContext(
            memory=data.get("memory", ""),
            note=data.get("note", ""),
            note_depth=data.get("note_depth", DEFAULT_NOTE_DEPTH),
            scan_depth=data.get("scan_depth", DEFAULT_SCAN_DEPTH),
            lorebook=lore,
            recall_tokens=data.get("recall_tokens"),
        )
    except WriterError as exc:
        raise WriterError(f"{source}: {exc}") from None


def context_to_toml(context: StoryContext) -> str:
    """The context as TOML (tomlkit writes valid strings for any text, newlines included)."""
    import tomlkit

    doc = tomlkit.document()
    data = context_to_dict(context)
    entries = data.pop("entry", [])
    for key, value in data.items():
        doc[key] = (
            tomlkit.string(value, multiline="\n" in value) if key in ("memory", "note") else value
        )
    if entries:
        aot = tomlkit.aot()
        for entry in entries:
            table = tomlkit.table()
            for key, value in entry.items():
                multiline = isinstance(value, str) and "\n" in value
                table[key] = tomlkit.string(value, multiline=True) if multiline else value
            aot.append(table)
        doc["entry"] = aot
    return tomlkit.dumps(doc)


def context_from_toml(text: str, source: str) -> StoryContext:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WriterError(f"{source} is not valid TOML ({exc}); fix it") from None
    return context_from_dict(data, source)


def add_front_matter(content: str, context: StoryContext) -> str:
    """An exported Markdown file with the context on top (unchanged when it is empty)."""
    if context.empty and context.recall_tokens is None:
        return content
    return f"{FRONT}\n{context_to_toml(context)}{FRONT}\n\n{content}"


def split_front_matter(text: str, source: str) -> tuple[StoryContext | None, str]:
    """(context, rest of the file): the context from a leading `+++` block, else None."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") != FRONT:
        return None, text
    for end in range(1, len(lines)):
        if lines[end].rstrip("\r") == FRONT:
            block = "\n".join(lines[1:end])
            context = context_from_toml(block, f"{source}: front matter")
            return context, "\n".join(lines[end + 1 :]).lstrip("\n")
    raise WriterError(
        f"{source}: front matter opened with {FRONT} is never closed; add a {FRONT} line "
        "after it or remove the first line"
    )


def context_from_row(draft_id: int, value: object) -> StoryContext:
    """A stored context; BadRowError (one line) when the row cannot be read."""
    text = as_text(value)
    try:
        if text is None:
            raise ValueError("not text")
        return context_from_dict(json.loads(text), f"draft {draft_id}'s story context")
    except (ValueError, WriterError) as exc:
        raise BadRowError(
            f"draft {draft_id}'s stored story context cannot be read ({exc}); save a new one "
            "in the app (context dialog) to replace it"
        ) from None


class StoryContexts:
    """Each draft's story context in the store (`DraftStore.context`), handed the core."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def load(self, draft_id: int) -> StoryContext:
        """The draft's context (empty when none was saved); BadRowError when unreadable."""
        with self.core.read() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            row = conn.execute(
                "SELECT data FROM story_contexts WHERE draft_id = ?", (int(draft_id),)
            ).fetchone()
        return StoryContext() if row is None else context_from_row(int(draft_id), row[0])

    def save(self, draft_id: int, context: StoryContext) -> None:
        """Replace the draft's context in one transaction (an empty one removes the row)."""
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id, readable=False)
            put_context(conn, int(draft_id), context)


def put_context(conn: sqlite3.Connection, draft_id: int, context: StoryContext) -> None:
    """Write the draft's context inside the caller's transaction (an empty one removes it)."""
    if context.empty and context == StoryContext():
        conn.execute("DELETE FROM story_contexts WHERE draft_id = ?", (draft_id,))
        return
    conn.execute(
        "INSERT INTO story_contexts (draft_id, data) VALUES (?, ?) "
        "ON CONFLICT(draft_id) DO UPDATE SET data = excluded.data",
        (draft_id, json.dumps(context_to_dict(context))),
    )
