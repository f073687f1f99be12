"""Preference pairs for `writer learn`: (prompt, chosen, rejected) from real use or a file.

From the generation log: every "continue" request where the author inserted a candidate gives
one pair per passed-over candidate (the inserted one is "chosen"). An inserted candidate the
author later deleted is no "chosen": fewer than half of its words are still in the draft (the
kept-words rule of `writer stats`, writer.store.acceptance), and the whole request is skipped.
The prompt is the one stored with the request; rows logged before prompts were stored have only
the last 200 characters before the cursor, so their prompt is rebuilt from the draft as it is
now (the text up to where that tail last occurs, or the tail alone) and counted as rebuilt.

From blind comparisons (`writer compare`): each judgment that picked A or B gives the passage,
the picked continuation and the other.

From a file: JSON Lines, one `{"prompt": ..., "chosen": ..., "rejected": ...}` object a line
(the format TRL's DPOTrainer reads); blank lines are skipped; any other line is an error naming
its line number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from writer.errors import WriterError

if TYPE_CHECKING:
    from writer.store.draftstore import DraftStore

FIELDS = ("prompt", "chosen", "rejected")
# Kept fraction below which an inserted candidate counts as deleted (not a "chosen").
MIN_KEPT = 0.5
# A rebuilt prompt keeps at most this many characters before the point (the model's window is
# filled from the end; more would only be cut).
REBUILT_PROMPT_CHARS = 4000


@dataclass(frozen=True)
class PreferencePair:
    """One preference: after `prompt`, the author prefers `chosen` to `rejected`.

    `source` says where it came from ("log", "compare", "file"); `rebuilt` is True when the
    prompt was reconstructed from the draft rather than stored with the request.
    """

    prompt: str
    chosen: str
    rejected: str
    source: str = "file"
    rebuilt: bool = False

    def as_json(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


@dataclass
class PairCounts:
    """What the pair extraction found and left out (shown in the report)."""

    requests: int = 0  # logged requests with an insertion
    deleted: int = 0  # of those, skipped: the inserted text was deleted later
    rebuilt: int = 0  # pairs whose prompt was rebuilt from the draft
    from_log: int = 0
    from_compare: int = 0
    from_file: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _words(text: str) -> int:
    from writer.store.acceptance import _words as words

    return len(words(text))


def _rebuilt_prompt(tail: str, draft_text: str) -> str:
    found = draft_text.rfind(tail)
    if found < 0:
        return tail
    return draft_text[: found + len(tail)][-REBUILT_PROMPT_CHARS:]


def pairs_from_log(
    store: DraftStore,
    draft_ids: Iterable[int],
    counts: PairCounts | None = None,
    *,
    model: str | None = None,
) -> list[PreferencePair]:
    """The pairs of the drafts' generation logs, oldest request first (see the module doc);
    with `model`, only from the requests that model answered."""
    import difflib

    from writer.store.acceptance import _words as word_list
    from writer.store.acceptance import kept_words
    from writer.store.generations import GENERATIONS_KEEP

    counts = counts if counts is not None else PairCounts()
    pairs: list[PreferencePair] = []
    for draft_id in draft_ids:
        draft = store.get_draft(draft_id)
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(word_list(draft.text))
        for record in reversed(store.generations.recent(draft_id, GENERATIONS_KEEP)):
            index = record.inserted
            if record.mode != "continue" or index is None:
                continue
            if model is not None and record.model != model:
                continue
            if not 0 <= index < len(record.candidates):
                continue
            chosen = str(record.candidates[index].get("text", ""))
            words = _words(chosen)
            if not words:
                continue
            counts.requests += 1
            if kept_words(chosen, "", matcher) < MIN_KEPT * words:
                counts.deleted += 1
                continue
            rebuilt = record.prompt is None
            if rebuilt:
                if not record.prompt_tail:
                    continue
                prompt = _rebuilt_prompt(record.prompt_tail, draft.text)
            else:
                prompt = record.prompt or ""
            for i, candidate in enumerate(record.candidates):
                rejected = str(candidate.get("text", ""))
                if i == index or not rejected.strip() or rejected == chosen:
                    continue
                pairs.append(PreferencePair(prompt, chosen, rejected, "log", rebuilt))
                counts.from_log += 1
                counts.rebuilt += int(rebuilt)
    return pairs


def pairs_from_judgments(
    store: DraftStore, counts: PairCounts | None = None
) -> list[PreferencePair]:
    """One pair per blind judgment that picked A or B."""

    counts = counts if counts is not None else PairCounts()
    pairs = []
    for j in store.judgments.decisive():
        chosen, rejected = (j.text_a, j.text_b) if j.choice == "a" else (j.text_b, j.text_a)
        if chosen.strip() and rejected.strip() and chosen != rejected:
            pairs.append(PreferencePair(j.passage, chosen, rejected, "compare"))
            counts.from_compare += 1
    return pairs


def parse_pair_line(line: str, where: str) -> PreferencePair | None:
    """One JSONL line as a pair (None for a blank line); `where` names it in errors."""
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except ValueError as exc:
        reason = getattr(exc, "msg", None) or str(exc)
        raise WriterError(f"{where}: not JSON ({reason}); each line must be one object") from None
    if not isinstance(data, dict):
        raise WriterError(
            f'{where}: expected an object {{"prompt", "chosen", "rejected"}}, got '
            f"{type(data).__name__}"
        )
    missing = [key for key in FIELDS if key not in data]
    if missing:
        raise WriterError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
    for key in FIELDS:
        if not isinstance(data[key], str):
            raise WriterError(f"{where}: {key!r} must be a string, got {type(data[key]).__name__}")
    if not data["chosen"].strip() or not data["rejected"].strip():
        raise WriterError(f"{where}: 'chosen' and 'rejected' must not be empty")
    return PreferencePair(data["prompt"], data["chosen"], data["rejected"], "file")


def read_pairs_file(path: str | Path, counts: PairCounts | None = None) -> list[PreferencePair]:
    """The pairs of a JSONL file, or a one-line error naming the file and the bad line."""
    counts = counts if counts is not None else PairCounts()
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as lines:
            pairs = []
            for number, line in enumerate(lines, 1):
                pair = parse_pair_line(line, f"{path}, line {number}")
                if pair is not None:
                    pairs.append(pair)
    except FileNotFoundError:
        raise WriterError(f"no such pairs file: {path}") from None
    except IsADirectoryError:
        raise WriterError(f"{path} is a folder; --pairs takes a .jsonl file") from None
    except UnicodeDecodeError:
        raise WriterError(f"{path} is not UTF-8 text; --pairs takes a .jsonl file") from None
    except OSError as exc:
        raise WriterError(f"cannot read {path}: {exc.strerror or exc}") from None
    counts.from_file += len(pairs)
    return pairs


def pairs_jsonl(pairs: Sequence[PreferencePair]) -> str:
    """The pairs as JSON Lines (what `read_pairs_file` and TRL read)."""
    return "".join(json.dumps(p.as_json(), ensure_ascii=False) + "\n" for p in pairs)


def fingerprint(pairs: Sequence[PreferencePair]) -> str:
    """A digest of the pairs in order: a resumed run must train on the same pairs."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(json.dumps(pair.as_json(), sort_keys=True).encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def split_pairs(
    pairs: Sequence[PreferencePair], holdout: float, seed: int
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held out): a seeded shuffle, then the last `holdout` fraction (at least one pair
    each, or a one-line error when there are too few)."""
    import random

    count = max(1, round(len(pairs) * holdout))
    if len(pairs) < count + 1:
        raise WriterError(
            f"too few pairs for a held-out set: {len(pairs)} pair(s); learning needs at least 2 "
            "(one to train on, one to check); add pairs, or pick more candidates in the app"
        )
    order = list(pairs)
    random.Random(seed).shuffle(order)
    return order[:-count], order[-count:]
