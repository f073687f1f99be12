"""The generation log: every request, its candidates, which one was inserted.

`GenerationLog` is handed the store's core (`DraftStore.generations`):

    store.generations.log(draft_id, mode, params, seed, model, candidates, prompt_tail=...)
    store.generations.mark_inserted(generation_id, index, text)
    store.generations.recent(draft_id, limit)     # GenerationRecords, newest first
    store.generations.branch_points(draft_id)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from writer.errors import WriterError
from writer.store.core import StoreCore
from writer.store.models import GenerationRecord
from writer.store.rows import json_value, timestamp
from writer.store.textio import encodable

# Generation log entries kept per draft (oldest dropped first); each is a few kilobytes.
GENERATIONS_KEEP = 500


def _candidate_dict(candidate: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(candidate) and not isinstance(candidate, type):
        data = dataclasses.asdict(candidate)
    else:
        data = dict(candidate)
    # Per-token probabilities are for the live view only: 10 alternatives a token would make
    # each logged request tens of kilobytes (the log keeps 500 per draft).
    data.pop("token_logprobs", None)
    return data


@dataclasses.dataclass(frozen=True)
class BranchPoint:
    """A point of the story where continuations were asked for, and every request made there
    (newest first): each request's candidates are the branches that grow from it.

    `prompt_tail` (the last 200 characters of the text before the point) is how the point is
    found in the text again (`locate`).
    """

    prompt_tail: str
    requests: tuple[GenerationRecord, ...]

    @property
    def latest(self) -> float:
        return self.requests[0].created

    def locate(self, text: str) -> int | None:
        """Where this point is in `text` now (the end of its last occurrence), or None."""
        found = text.rfind(self.prompt_tail)
        return None if found < 0 else found + len(self.prompt_tail)


class GenerationLog:
    """The generation log of every draft in one store."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def log(
        self,
        draft_id: int,
        mode: str,
        params: dict[str, Any],
        seed: int | None,
        model: str | None,
        candidates: Sequence[Any],
        *,
        prompt_tail: str | None = None,
        prompt: str | None = None,
    ) -> int:
        """Record one request; `candidates` are dicts (text, tokens, logprob, seed...) or
        engine Candidate dataclasses; `prompt` is the text the model was given (kept for
        `writer learn`). Returns the generation ID."""
        cands = [_candidate_dict(c) for c in candidates]
        with self.core.write() as conn:
            self.core.draft_row(conn, draft_id)
            cur = conn.execute(
                "INSERT INTO generations (draft_id, created, mode, params, seed, model, "
                "prompt_tail, candidates, prompt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    int(draft_id),
                    self.core.now(),
                    mode,
                    json.dumps(params, default=str),
                    seed,
                    model,
                    prompt_tail,
                    json.dumps(cands, default=str),
                    None if prompt is None else encodable(prompt),
                ),
            )
            conn.execute(
                "DELETE FROM generations WHERE draft_id = ? AND id NOT IN (SELECT id FROM "
                "generations WHERE draft_id = ? ORDER BY id DESC LIMIT ?)",
                (int(draft_id), int(draft_id), GENERATIONS_KEEP),
            )
            return int(cur.lastrowid)

    def mark_inserted(self, generation_id: int, index: int, text: str | None = None) -> None:
        """Note that candidate `index` of a request was inserted. With `text` (the draft's text
        after the insertion) it is also saved, with an "insert" revision, in the same
        transaction."""
        with self.core.write() as conn:
            row = conn.execute(
                "SELECT draft_id, candidates FROM generations WHERE id = ?", (int(generation_id),)
            ).fetchone()
            if row is None:
                raise WriterError(f"no generation with ID {generation_id}")
            count = len(json_value(row[1], []))
            if not 0 <= index < count:
                raise WriterError(
                    f"generation {generation_id} has {count} candidates; no index {index}"
                )
            conn.execute(
                "UPDATE generations SET inserted = ? WHERE id = ?", (int(index), int(generation_id))
            )
            if text is not None:
                now, text = self.core.now(), encodable(text)
                draft = self.core.draft_row(conn, row[0])
                self.core.replace_text(conn, draft, text, now, force_snapshot=True)
                self.core.add_revision(conn, row[0], text, "insert", now)

    def branch_points(self, draft_id: int, limit: int = GENERATIONS_KEEP) -> list[BranchPoint]:
        """The draft's continuation requests grouped by the point they were asked at (the same
        text before the cursor), the point asked at most recently first."""
        points: dict[str, list[GenerationRecord]] = {}
        for record in self.recent(draft_id, limit):  # newest first
            if record.mode == "continue" and record.prompt_tail and record.candidates:
                points.setdefault(record.prompt_tail, []).append(record)
        return [BranchPoint(tail, tuple(records)) for tail, records in points.items()]

    def recent(self, draft_id: int, limit: int = 50) -> list[GenerationRecord]:
        """The draft's latest requests, newest first."""
        with self.core.read() as conn:
            rows = conn.execute(
                "SELECT id, draft_id, created, mode, params, seed, model, candidates, inserted, "
                "prompt_tail, prompt FROM generations WHERE draft_id = ? ORDER BY id DESC LIMIT ?",
                (int(draft_id), int(limit)),
            ).fetchall()
        return [
            GenerationRecord(
                id=r[0],
                draft_id=r[1],
                created=timestamp(r[2]),
                mode=r[3] if isinstance(r[3], str) else "",
                params=json_value(r[4], {}),
                seed=r[5] if isinstance(r[5], int) else None,
                model=r[6] if isinstance(r[6], str) else None,
                candidates=[c for c in json_value(r[7], []) if isinstance(c, dict)],
                inserted=r[8] if isinstance(r[8], int) else None,
                prompt_tail=r[9] if isinstance(r[9], str) else None,
                prompt=r[10] if isinstance(r[10], str) else None,
            )
            for r in rows
        ]
