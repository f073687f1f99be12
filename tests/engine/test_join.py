"""The join rule: the text that goes in when a candidate is inserted at the cursor."""

from __future__ import annotations

import pytest

from writer.engine.story.join import join_candidate

CASES = [
    # (before, candidate, after, inserted)
    ("", " Once upon a time", "", "Once upon a time"),
    ("", "\n\n Once", "", "Once"),
    ("The war ended.\n", " economies collapsed.", "", "economies collapsed."),
    ("The war ended.\n\n", " Economies", "", "Economies"),
    ("his brother ", " exploited it", "", "exploited it"),
    ("his brother", " exploited it", "", " exploited it"),
    ("The fox", "es ran", "", "es ran"),
    ("his brother", ", the winner,", "", ", the winner,"),
    ("his brother", " , the winner", "", ", the winner"),
    ("his brother", " 's horse", "", "'s horse"),
    ("his brother", " .", "", "."),
    ("He waited", " ...", "", " ..."),
    ("the ", " fitness", "scene LAST", "fitness "),
    ("the", " fitness", "scene", " fitness "),
    ("the", " fitness", " scene", " fitness"),
    ("the", " fitness ", " scene", " fitness"),
    ("the", " fitness\n", "Scene", " fitness\n"),
    ("the", " fitness", ", said he", " fitness"),
    ("the", " fitness", "\nNext", " fitness"),
    ("", " Title", "\nbody", "Title"),
    ("word", "", "", ""),
    ("word ", "   ", "", ""),
    ("He said \u201c", "Yes.\u201d", "", "Yes.\u201d"),
    ("tabs\t", "\tand more", "", "and more"),
]


@pytest.mark.parametrize(("before", "candidate", "after", "inserted"), CASES)
def test_join_candidate(before: str, candidate: str, after: str, inserted: str) -> None:
    assert join_candidate(before, candidate, after) == inserted


@pytest.mark.parametrize(("before", "candidate", "after", "inserted"), CASES)
def test_no_double_space_and_no_leading_space(
    before: str, candidate: str, after: str, inserted: str
) -> None:
    story = before + join_candidate(before, candidate, after) + after
    if candidate.strip():
        assert "  " not in story.replace("\t", " ") or "  " in before + candidate + after
        assert not story.startswith((" ", "\n"))
