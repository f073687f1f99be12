"""Acceptance statistics from real use (`writer stats`, the models dialog).

Read from what the generation log already stores: each request's model, parameters, candidates
and which one was inserted, and each draft's current text. The preset of a request is the preset
whose parameters equal the request's ("custom" when none does: the author had overrides).

"Kept" words: the words of an inserted candidate still found in the draft now, counted in runs
of at least 3 consecutive words in the same order (`difflib`'s matching blocks over word
lists), so a common word elsewhere in the draft does not count as kept. Words are lower-cased
runs of letters and digits, so punctuation the author fixed does not count as a change.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.store.draftstore import DraftStore

MIN_RUN = 3  # consecutive words that make a match "kept"
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass
class UsageRow:
    """One model and preset: requests, candidates shown, insertions, words inserted and kept."""

    model: str
    preset: str
    requests: int = 0
    candidates_shown: int = 0
    inserted: int = 0
    inserted_words: int = 0
    kept_words: int = 0

    @property
    def insert_rate(self) -> float | None:
        return self.inserted / self.requests if self.requests else None

    @property
    def kept_rate(self) -> float | None:
        return self.kept_words / self.inserted_words if self.inserted_words else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "insert_rate": self.insert_rate, "kept_rate": self.kept_rate}


def kept_words(
    inserted: str, draft_text: str, matcher: difflib.SequenceMatcher | None = None
) -> int:
    """How many words of `inserted` are still in `draft_text` (runs of >= 3 words)."""
    if matcher is None:
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(_words(draft_text))
    cand = _words(inserted)
    if not cand:
        return 0
    matcher.set_seq1(cand)
    need = min(MIN_RUN, len(cand))
    return sum(block.size for block in matcher.get_matching_blocks() if block.size >= need)


def _normalised(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def preset_names() -> dict[str, str]:
    """Normalised parameters -> preset name, for every preset (built-in and the user's)."""
    from writer.errors import WriterError
    from writer.presets import BUILTIN_PRESETS, all_presets

    try:
        presets = all_presets()
    except WriterError:  # a broken presets.toml: the built-ins are still recognised
        presets = BUILTIN_PRESETS
    found: dict[str, str] = {}
    for name, preset in presets.items():
        params = json.loads(json.dumps(preset.params.to_dict(), default=str))
        found.setdefault(_normalised(params), name)
    return found


def usage_stats(store: DraftStore, draft_id: int | None = None) -> list[UsageRow]:
    """Rows per (model, preset) over every draft (or one), most requested first."""
    from writer.store.generations import GENERATIONS_KEEP

    names = preset_names()
    drafts: Iterable[int] = (
        [draft_id] if draft_id is not None else [d.id for d in store.list_drafts()]
    )
    rows: dict[tuple[str, str], UsageRow] = {}
    for did in drafts:
        draft = store.get_draft(did)
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(_words(draft.text))
        for record in store.generations.recent(did, limit=GENERATIONS_KEEP):
            model = record.model or "?"
            preset = names.get(_normalised(record.params), "custom")
            row = rows.setdefault((model, preset), UsageRow(model, preset))
            row.requests += 1
            row.candidates_shown += len(record.candidates)
            if record.inserted is not None and 0 <= record.inserted < len(record.candidates):
                text = str(record.candidates[record.inserted].get("text", ""))
                row.inserted += 1
                row.inserted_words += len(_words(text))
                row.kept_words += kept_words(text, "", matcher)
    return sorted(rows.values(), key=lambda r: (-r.requests, r.model, r.preset))


def per_model(rows: Iterable[UsageRow]) -> dict[str, UsageRow]:
    """The rows summed over presets, per model (the models dialog)."""
    totals: dict[str, UsageRow] = {}
    for r in rows:
        t = totals.setdefault(r.model, UsageRow(r.model, "all"))
        t.requests += r.requests
        t.candidates_shown += r.candidates_shown
        t.inserted += r.inserted
        t.inserted_words += r.inserted_words
        t.kept_words += r.kept_words
    return totals


def describe(row: UsageRow) -> str:
    """One line for the models dialog."""
    if not row.requests:
        return "your use: no requests yet"
    rate = f"{row.insert_rate:.0%}" if row.insert_rate is not None else "-"
    kept = (
        f"{row.kept_words} of {row.inserted_words} inserted words still in your drafts"
        if row.inserted_words
        else "nothing inserted yet"
    )
    return (
        f"your use: {row.requests} requests, {row.candidates_shown} candidates shown, "
        f"{rate} inserted; {kept}"
    )
