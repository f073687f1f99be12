"""Chat framing and the end of a character's turn (writer.engine.story.chat)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import models
from writer.engine.story.chat import (
    AUTHOR_TAG,
    ChatTurn,
    chat_context,
    chat_prompt,
    check_name,
    description_from_context,
    stream_replies,
    trim_reply,
    turn_end,
)
from writer.engine.story.context import LoreEntry, StoryContext
from writer.engine.types import CandidateDone, GenerationDone, TokenDelta
from writer.errors import WriterError
from writer.presets import SamplingParams

MARKER = f"{AUTHOR_TAG}:"


def test_prompt_is_a_transcript_ending_on_the_characters_tag() -> None:
    turns = [ChatTurn("author", "Who are you?"), ChatTurn("character", "A smuggler.")]
    prompt = chat_prompt("Mara", "The ship sailed.\n", turns, "Why\nthe sea?")
    assert prompt == (
        "The ship sailed.\n\n* * *\n\nAn interview with Mara.\n\n"
        "Interviewer: Who are you?\nMara: A smuggler.\nInterviewer: Why the sea?\nMara:"
    )
    assert chat_prompt("Mara", "", [], "Hi").startswith("An interview with Mara.")


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        (" I sail.\nInterviewer: And?", "I sail."),
        (" I sail. Interviewer: why", "I sail."),
        (" I sail. interviewer : x", "I sail. interviewer : x"),  # not the tag
        ("\n\n I sail at night.\n\nMara: more", "I sail at night."),  # a leading blank line
        (" Yes. Mara: again", "Yes."),
        (" The total: Mara's share", "The total: Mara's share"),
        (" Yes, the Interviewer: no", "Yes, the"),
        (" Still going", "Still going"),
    ],
)
def test_trim_reply_ends_at_the_turns_end(raw: str, reply: str) -> None:
    assert trim_reply(raw, "Mara") == reply


def test_turn_end_waits_for_content_before_a_line_break() -> None:
    assert turn_end("\n\n", "Mara") is None
    assert turn_end(" ok\n", "Mara") == 3


@pytest.mark.parametrize("bad", ["", "   ", "A: B", "interviewer", "x" * 61])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(WriterError):
        check_name(bad)


def test_description_from_lorebook_then_memory() -> None:
    lore = (
        LoreEntry(keys=("dragon",), text="Dragons hoard songs."),
        LoreEntry(keys=("Mara", "the smuggler"), text="Mara smuggles salt."),
    )
    ctx = StoryContext(memory="A sea story.", lorebook=lore)
    assert description_from_context("mara", ctx) == ("Mara smuggles salt.", 1)
    assert description_from_context("Tom", ctx) == ("A sea story.", None)
    assert description_from_context("Tom", None) == ("", None)
    request = chat_context("Mara", "Mara smuggles salt.", ctx, skip_entry=1)
    assert request.memory == "Mara: Mara smuggles salt."
    assert [e.text for e in request.lorebook] == ["Dragons hoard songs."]
    assert request.note == ""


def test_replies_stream_only_within_the_turn(tiny_engine) -> None:
    params = SamplingParams(max_new_tokens=12)
    events = list(
        stream_replies(
            tiny_engine, params, name="Mara", story="The fox ran.", line="Hello?", n=3, seed=1
        )
    )
    done = events[-1]
    assert isinstance(done, GenerationDone) and not done.cancelled
    assert len(done.candidates) == 3
    streamed = ["", "", ""]
    for event in events:
        if isinstance(event, TokenDelta):
            streamed[event.index] += event.text
    finals = {e.index: e.candidate.text for e in events if isinstance(e, CandidateDone)}
    for i, cand in enumerate(done.candidates):
        assert cand.text == finals[i] == trim_reply(cand.text, "Mara")
        assert finals[i].startswith(streamed[i])  # never showed what was cut later
        assert "\n" not in cand.text and MARKER not in cand.text


@pytest.fixture(scope="module")
def gpt2_tokenizer_engine(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random GPT-2 with the real GPT-2 tokenizer (its tags and line breaks are real
    tokens); GPT-2 small's size made the 100 replies take 40 s and changed nothing checked."""
    if not (models.DEFAULT_TOKENIZER / "tokenizer.json").is_file():
        pytest.skip("GPT-2 tokenizer not at ../shared/gpt2-tokenizer")
    from writer.engine import load_engine

    where = Path(tmp_path_factory.mktemp("chat-models"))
    folder = models.build_model(models.SPECS["tiny"], where, models.DEFAULT_TOKENIZER)
    return load_engine(str(folder), device="cpu", precision="fp32")


def test_no_reply_contains_the_authors_turn_over_100_seeded_replies(gpt2_tokenizer_engine) -> None:
    """Random weights, pushed towards writing the author's tag and line breaks (a phrase bias),
    so the stop rule is exercised often: no streamed or final reply holds the author's turn."""
    turns = [ChatTurn("author", "Where were you born?"), ChatTurn("character", "By the sea.")]
    biased = SamplingParams(
        max_new_tokens=8, bias=((f"{AUTHOR_TAG}:", 4.0), (":", 3.0), ("Mara:", 3.0))
    )
    plain = SamplingParams(max_new_tokens=8)
    replies = stops = 0
    for call in range(25):
        params = plain if call % 5 == 4 else biased
        streamed = [""] * 4
        done_seen: set[int] = set()
        for event in stream_replies(
            gpt2_tokenizer_engine,
            params,
            name="Mara",
            about="A salt smuggler, proud and tired.",
            story="The boat came in at night. Mara tied it to the post.",
            turns=turns,
            line="What do you carry?",
            n=4,
            seed=call * 4,
        ):
            if isinstance(event, TokenDelta):
                streamed[event.index] += event.text
            elif isinstance(event, CandidateDone):
                done_seen.add(event.index)
            elif isinstance(event, GenerationDone):
                assert done_seen == {0, 1, 2, 3}  # one CandidateDone each, also when stopped
                for cand in event.candidates:
                    replies += 1
                    stops += cand.finish_reason == "stop"
                    assert MARKER.lower() not in cand.text.lower(), cand.text
                    assert "\n" not in cand.text, cand.text
                    assert cand.text.startswith(streamed[cand.index])
        for text in streamed:
            assert MARKER.lower() not in text.lower() and "\n" not in text
    assert replies >= 100
    assert stops >= 20  # the rule really was tested, not just never triggered
