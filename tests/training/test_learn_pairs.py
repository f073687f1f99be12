"""Preference pairs for `writer learn`: from the generation log, from judgments, from JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from writer.errors import WriterError
from writer.store import DraftStore
from writer.store.judgments import Judgment
from writer.training.pairs import (
    PairCounts,
    pairs_from_judgments,
    pairs_from_log,
    pairs_jsonl,
    read_pairs_file,
    split_pairs,
)


def _cands(*texts: str) -> list[dict]:
    return [{"text": t, "tokens": 3, "logprob": -1.0, "seed": i} for i, t in enumerate(texts)]


def test_inserted_beats_passed_over_and_deleted_picks_are_left_out(tmp_path: Path) -> None:
    with DraftStore.open(tmp_path / "w.db") as store:
        draft = store.create_draft("The fox")
        # Logged with the prompt the model saw: inserted candidate 1, kept in the draft.
        kept = store.generations.log(
            draft.id,
            "continue",
            {},
            1,
            "m",
            _cands(" ran to the river bank", " walked into the dark forest", "  "),
            prompt_tail="The fox",
            prompt="Memory.\nThe fox",
        )
        store.generations.mark_inserted(kept, 1, text="The fox walked into the dark forest")
        # Inserted, then deleted: its words are no longer in the draft.
        gone = store.generations.log(
            draft.id,
            "continue",
            {},
            2,
            "m",
            _cands(" sang a song of old ships", " ate the red apple quickly"),
            prompt_tail="forest",
        )
        store.generations.mark_inserted(gone, 0, text="The fox walked into the dark forest")
        # An older row (no stored prompt): the prompt is rebuilt from the draft.
        old = store.generations.log(
            draft.id,
            "continue",
            {},
            3,
            "m",
            _cands(" was", " saw the lighthouse"),
            prompt_tail="fox",
        )
        final = "The fox saw the lighthouse walked into the dark forest"
        store.generations.mark_inserted(old, 1, text=final)
        # Nothing inserted, and "ideas" requests: no pairs.
        store.generations.log(draft.id, "continue", {}, 4, "m", _cands(" a", " b"), prompt_tail="x")
        idea = store.generations.log(draft.id, "ideas", {}, 5, "m", _cands("one", "two"))
        store.generations.mark_inserted(idea, 0)
        counts = PairCounts()
        pairs = pairs_from_log(store, [draft.id], counts)
    assert [(p.prompt, p.chosen, p.rejected, p.rebuilt) for p in pairs] == [
        ("Memory.\nThe fox", " walked into the dark forest", " ran to the river bank", False),
        ("The fox", " saw the lighthouse", " was", True),
    ]
    assert counts.requests == 3 and counts.deleted == 1
    assert counts.rebuilt == 1 and counts.from_log == 2


def test_judgments_give_pairs_of_the_picked_side(tmp_path: Path) -> None:
    with DraftStore.open(tmp_path / "w.db") as store:
        log = store.judgments
        comparison = log.start("a", "b", "files", "f", 8, 4, 0, 3)
        for item, choice in enumerate(("a", "b", "tie")):
            log.record(Judgment(comparison.id, item, True, choice, f"p{item}", "A", "B"))
        pairs = pairs_from_judgments(store)
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [("p0", "A", "B"), ("p1", "B", "A")]


def test_jsonl_round_trip_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "Once", "chosen": " upon", "rejected": " more"}] * 2
    path.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n", encoding="utf-8")
    pairs = read_pairs_file(path)
    assert [p.as_json() for p in pairs] == rows
    assert pairs_jsonl(pairs).splitlines() == [json.dumps(r) for r in rows]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: expected an object"),
        ('{"prompt": "a", "chosen": "b"}', "line 2: missing 'rejected'"),
        ('{"prompt": "a", "chosen": 3, "rejected": "c"}', "line 2: 'chosen' must be a string"),
        ('{"prompt": "a", "chosen": " ", "rejected": "c"}', "line 2: 'chosen' and 'rejected'"),
    ],
)
def test_jsonl_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n' + line + "\n")
    with pytest.raises(WriterError, match=message):
        read_pairs_file(path)


def test_missing_file_and_too_few_pairs(tmp_path: Path) -> None:
    with pytest.raises(WriterError, match="no such pairs file"):
        read_pairs_file(tmp_path / "nope.jsonl")
    path = tmp_path / "one.jsonl"
    path.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n')
    with pytest.raises(WriterError, match="too few pairs"):
        split_pairs(read_pairs_file(path), 0.1, 0)
