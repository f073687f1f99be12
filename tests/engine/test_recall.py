"""Recall: planted facts come back, nothing from the window, caps, stability while typing, the
Python BM25 fallback, and the recall slot in context assembly (exact budgets, off = unchanged)."""

from __future__ import annotations

import random

import pytest

from writer.engine.story.context import StoryContext, assemble_context
from writer.engine.story.pieces import MAX_PIECE_CHARS, paragraphs, split_paragraph
from writer.engine.story.recall import Recaller, query_terms, recall
from writer.engine.story.recallindex import MemoryIndex, PythonIndex

FILLER = (
    "the rain came down on the old road while the market opened and people carried bread "
    "baskets past the window of the bakery near the river where boats waited for morning"
).split()
PLANTED = "Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope."


def manuscript(paragraphs: int = 200, seed: int = 0) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(paragraphs):
        text = " ".join(rng.choice(FILLER) for _ in range(45)).capitalize() + "."
        if i == 3:
            out.append(PLANTED)
        out.append(text)
    out.append("That night someone asked where Mirela Vask had gone with her telescope.")
    return "\n\n".join(out) + "\n"


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.mark.parametrize("index", [MemoryIndex, PythonIndex])
def test_an_early_fact_is_recalled_by_the_last_paragraph(index):
    text = manuscript()
    before = len(text) - 3000
    found = recall(text, before, 200, index=index())
    assert found and found[0].text.startswith(PLANTED)
    assert found[0].start == text.index(PLANTED)
    assert {"mirela", "vask", "telescope"} <= set(found[0].why)


def test_python_bm25_ranks_as_fts5():
    text = manuscript(seed=3)
    terms = ["mirela", "telescope", "bakery", "boats"]
    fts, py = MemoryIndex(), PythonIndex()
    fts.sync(text)
    py.sync(text)
    a, b = fts.search(terms, 10), py.search(terms, 10)
    assert [h.text for h in a][:3] == [h.text for h in b][:3]
    assert [round(h.score, 4) for h in a] == [round(h.score, 4) for h in b]


def test_nothing_from_inside_the_window_and_nothing_over_the_cap():
    text = manuscript()
    before = text.index(PLANTED) + 1  # the planted paragraph starts before the window
    found = recall(text, before, 1000)
    assert all(p.start < before for p in found)
    assert recall(text, text.index(PLANTED), 1000) == []  # it starts at the window: not recalled
    small = recall(text, len(text) - 3000, 30)
    assert sum(p.tokens for p in small) <= 30


def test_idea_notes_are_never_indexed_or_recalled():
    text = "[Idea: Mirela Vask betrays the keeper]\n" + manuscript()
    assert all(not p.startswith("[Idea:") for _, p in paragraphs(text))
    found = recall(text, len(text) - 3000, 500)
    assert found and all("[Idea:" not in p.text for p in found)


def test_pieces_are_bounded_and_start_where_their_text_is():
    paragraph = " ".join(["A sentence about the sea and the wind."] * 40)
    pieces = split_paragraph(paragraph)
    assert len(pieces) > 1
    for at, piece in pieces:
        assert len(piece) <= MAX_PIECE_CHARS
        assert paragraph[at : at + len(piece)] == piece
    assert split_paragraph("x" * 1000)  # a "sentence" with no space is still cut


def test_typing_inside_a_paragraph_keeps_the_recalled_passages():
    base = manuscript()
    recaller = Recaller()
    before = len(base) - 3000
    first = recaller.candidates(base, before)
    assert first
    typing = base + "The keeper walked slowly along the"
    for end in range(len(base), len(typing) + 1):
        assert recaller.candidates(typing[:end], before) is first
    # A finished sentence is a new query; a finished name typed mid-sentence is too.
    assert query_terms(typing + " quay.") != query_terms(typing)
    assert "ostrava" in query_terms(base + "Later, near Ostrava ")
    assert "ostrava" not in query_terms(base + "Later, near Ostrav")


def test_the_index_follows_edits_paragraph_by_paragraph():
    index = MemoryIndex()
    text = manuscript()
    index.sync(text)
    count = index.piece_count()
    edited = text.replace("Mirela Vask", "Mirela Vaskova", 1)
    index.sync(edited)
    assert index.piece_count() == count
    found = recall(edited, len(edited) - 3000, 200, index=index)
    assert found[0].start == edited.index("Mirela Vaskova")


def test_recall_off_assembles_exactly_what_it_did_before(tok):
    story = manuscript(60)
    plain = assemble_context(tok, story, StoryContext(memory="A tale."), 128, 16)
    for off in (
        StoryContext(memory="A tale.", recall_tokens=0, recaller=Recaller()),
        StoryContext(memory="A tale.", recall_tokens=32),
    ):
        assert assemble_context(tok, story, off, 128, 16).ids == plain.ids
    # On, but nothing to recall (the story fits whole): the same ids too.
    short = "Mirela Vask waited."
    on = StoryContext(recall_tokens=32, recaller=Recaller())
    assert (
        assemble_context(tok, short, on, 128, 16).ids
        == assemble_context(tok, short, StoryContext(), 128, 16).ids
    )


def test_recalled_passages_sit_after_the_lorebook_and_the_breakdown_adds_up(tok):
    story = manuscript(60)
    context = StoryContext(memory="A tale.", recall_tokens=96, recaller=Recaller())
    built = assemble_context(tok, story, context, 512, 16)
    b = built.breakdown
    assert b.recall > 0 and b.recalled
    assert b.recall == sum(p.tokens for p in b.recalled) <= 96
    assert len(built.ids) == b.total == sum(n for _, n in b.parts)
    assert b.total <= 512 - 16
    assert [name for name, _ in b.parts][:3] == ["memory", "lorebook", "recall"]
    assert b.recalled[0].text.startswith("Mirela Vask")
    window_start = len(story) - len(tok.decode(built.ids[b.memory + b.recall :]))
    assert all(p.start < window_start for p in b.recalled)
    data = b.to_dict()
    assert data["recall"] == b.recall and data["recalled"][0]["why"]
    assert set(data["recalled"][0]) == {"text", "start", "tokens", "why"}


def test_recall_tokens_is_validated():
    from writer.errors import WriterError

    with pytest.raises(WriterError, match="recall_tokens"):
        StoryContext(recall_tokens=-1)
    with pytest.raises(WriterError, match="candidates"):
        StoryContext(recall_tokens=8, recaller=object())


def test_without_fts5_recall_scores_in_python(monkeypatch):
    from writer.engine.story import recallindex

    monkeypatch.setattr(recallindex, "fts5_missing", lambda: "no FTS5 in this SQLite")
    recaller = Recaller()
    assert isinstance(recaller.index, PythonIndex)
    text = manuscript()
    found = recaller.recall(text, len(text) - 3000, 200)
    assert found and found[0].text == PLANTED


def test_typing_keeps_the_prompt_up_to_the_story_the_same(tok):
    story = manuscript(60) + "The keeper"
    context = StoryContext(recall_tokens=96, recaller=Recaller())
    first = assemble_context(tok, story, context, 512, 16)
    head = first.breakdown.memory + first.breakdown.lorebook + first.breakdown.recall
    assert first.breakdown.recall
    for more in (" walked", " slowly along", " the quay"):
        story += more
        again = assemble_context(tok, story, context, 512, 16)
        assert again.ids[:head] == first.ids[:head]


def test_an_index_that_fails_recalls_nothing_and_says_why():
    import sqlite3

    class Broken(PythonIndex):
        def search(self, terms, limit):
            raise sqlite3.OperationalError("database is locked")

    recaller = Recaller(Broken())
    text = manuscript()
    assert recaller.candidates(text, len(text) - 3000) == ()
    assert "database is locked" in recaller.error
