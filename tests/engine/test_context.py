"""Context assembly: layout, exact budgets, trimming, caps, lorebook triggering, cache stability."""

from __future__ import annotations

import random

import pytest

from writer.engine.story.context import NOTE_MAX_DEPTH, NOTE_STEP, StoryContext, assemble_context
from writer.engine.story.lorebook import LoreEntry, parse_lorebook
from writer.engine.story.prompts import TRUNCATE_BLOCK, build_prompt, encode
from writer.errors import WriterError
from writer.presets import SamplingParams

WORDS = "the fox walked to river and looked at water old woman told stories ship sailed".split()


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def story_text(words: int, seed: int = 0, lines: bool = True) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(words):
        out.append(rng.choice(WORDS))
        if lines and i % 12 == 11:
            out[-1] += ".\n"
    return " ".join(out).replace("\n ", "\n")


def text_of(tok, ids: list[int]) -> str:
    return tok.decode(ids)


def test_no_context_is_exactly_the_plain_prompt(tok) -> None:
    for words, window, new, mode in [
        (0, 1024, 60, "continue"),
        (30, 1024, 60, "continue"),
        (900, 1024, 60, "continue"),
        (300, 256, 40, "ideas"),
    ]:
        story = story_text(words, seed=words)
        plain = build_prompt(tok, story, mode, window, new)
        got = assemble_context(tok, story, StoryContext(), window, new, mode=mode)
        assert got.ids == plain.ids
        assert got.breakdown.story_trimmed == plain.truncated


def test_layout_memory_lorebook_then_story_with_the_note_lines_before_the_end(tok) -> None:
    lore = (
        LoreEntry(keys=("ship",), text="The ship is called Maren.", priority=9),
        LoreEntry(always=True, text="It is winter."),
    )
    context = StoryContext(
        memory="A tale of the sea.", note="Keep it calm.", note_depth=2, lorebook=lore
    )
    story = "The ship sailed north.\nNobody spoke.\nThe captain saw land.\nIt was cold."
    got = assemble_context(tok, story, context, 1024, 60)
    assert text_of(tok, got.ids) == (
        "A tale of the sea.\n"
        "The ship is called Maren.\n"  # file order, not priority order: a stable top
        "It is winter.\n"
        "The ship sailed north.\nNobody spoke.\n"
        "[Author's note: Keep it calm.]\n"
        "The captain saw land.\nIt was cold."
    )
    b = got.breakdown
    assert b.memory + b.lorebook + b.note + b.story == len(got.ids)
    assert b.memory == len(encode(tok, "A tale of the sea.\n"))
    assert b.note == len(encode(tok, "[Author's note: Keep it calm.]\n"))
    assert [(e.index, e.why) for e in b.entries] == [(1, "ship"), (2, "always")]
    assert b.note_depth_tokens == len(encode(tok, "The captain saw land.\nIt was cold."))
    data = b.to_dict()
    assert {k: data[k] for k in ("memory", "note", "lorebook", "story")} == {
        "memory": b.memory,
        "note": b.note,
        "lorebook": b.lorebook,
        "story": b.story,
    }
    # Depth 0: the note right at the end; fewer lines than the depth: at the story's start.
    end = assemble_context(tok, story, StoryContext(note="N.", note_depth=0), 1024, 60)
    assert text_of(tok, end.ids).endswith("It was cold.[Author's note: N.]\n")
    top = assemble_context(tok, story, StoryContext(note="N.", note_depth=9), 1024, 60)
    assert text_of(tok, top.ids).startswith("[Author's note: N.]\nThe ship")


def test_budgets_are_exact_and_the_story_is_trimmed_first(tok) -> None:
    rng = random.Random(5)
    lore = tuple(
        LoreEntry(keys=(w,), text=story_text(rng.randint(3, 40), seed=i), priority=i % 3)
        for i, w in enumerate(WORDS)
    )
    for case in range(60):
        window = rng.choice([128, 256, 1024])
        new = rng.randint(1, window // 3)
        context = StoryContext(
            memory=story_text(rng.randint(0, 300), seed=case),
            note=story_text(rng.randint(0, 40), seed=case + 1, lines=False),
            note_depth=rng.randint(0, 5),
            lorebook=lore[: rng.randint(0, len(lore))],
        )
        story = story_text(rng.randint(0, 1500), seed=case + 2)
        got = assemble_context(tok, story, context, window, new)
        b = got.breakdown
        assert len(got.ids) + new <= window, case
        assert b.total == len(got.ids) or (b.total == 0 and got.ids == [tok.eos_token_id])
        assert b.memory <= window // 4 and b.lorebook <= window // 4
        assert b.note <= max(window // 16, 32)
        story_ids = encode(tok, story)
        assert b.story + b.story_trimmed == len(story_ids)
        # The end of the story is kept before anything else is.
        story_min = min(len(story_ids), (window - new) // 4)
        assert b.story >= story_min
        # Trimmed in 128-token steps, unless a step would cut into the story's minimum.
        if b.story_trimmed % TRUNCATE_BLOCK:
            assert b.story < story_min + TRUNCATE_BLOCK


def test_caps_and_what_was_left_out_are_reported(tok) -> None:
    memory = story_text(800, seed=1)
    lore = (
        LoreEntry(keys=("fox",), text=story_text(150, seed=2), priority=1),
        LoreEntry(keys=("river",), text="The river is cold.", priority=0),
        LoreEntry(keys=("ship",), text="The ship is old. " * 8, priority=5),
    )
    got = assemble_context(
        tok,
        "the fox walked to the river and the ship",
        StoryContext(memory, lorebook=lore),
        512,
        60,
    )
    b = got.breakdown
    assert b.memory == 128 and b.memory_trimmed == len(encode(tok, memory.strip() + "\n")) - 128
    # Priority decides: ship (5, 74 tokens) first, then fox (1) does not fit the 128-token cap,
    # river (0, 11 tokens) still does.
    assert [e.index for e in b.entries] == [2, 3]
    assert [(e.index, e.why) for e in b.left_out] == [(1, "no room")]


def test_lorebook_triggers_case_regex_always_priority_and_scan_depth(tok) -> None:
    entries = (
        LoreEntry(keys=("Dragon", "wyrm"), text="Dragons hoard."),
        LoreEntry(keys=(r"light\s?house",), regex=True, text="The light is out."),
        LoreEntry(always=True, text="Always here."),
        LoreEntry(keys=("fox",), text="Fox lore."),
    )

    def used(story: str, scan_depth: int = 256) -> list[int]:
        context = StoryContext(lorebook=entries, scan_depth=scan_depth)
        return [e.index for e in assemble_context(tok, story, context, 1024, 60).breakdown.entries]

    assert used("A DRAGON flew.") == [1, 3]  # case-insensitive
    assert used("the WYRM and a light house") == [1, 2, 3]  # any key; regex
    assert used("The lighthouse, and foxes.") == [2, 3]  # plain keys match whole words only
    far = "A fox ran. " + "the river and the water " * 60
    assert used(far) == [3]  # "fox" is more than 256 tokens from the end
    assert used(far, scan_depth=4096) == [3, 4]
    assert used("A fox ran. " + "the water " * 5, scan_depth=64) == [3, 4]
    with pytest.raises(WriterError, match="not a valid regex"):
        LoreEntry(keys=("(",), regex=True, text="x")


def test_typing_at_the_end_keeps_the_prefix_up_to_the_typing(tok) -> None:
    """What makes the prefix cache survive: the previous prompt is a prefix of the new one."""
    lore = (
        LoreEntry(keys=("fox",), text="The fox is named Vesper."),
        LoreEntry(keys=("river",), text="The river is cold."),
        LoreEntry(always=True, text="Winter."),
    )
    context = StoryContext(memory="A fable.", note="Sad.", lorebook=lore)
    story = story_text(400, seed=3)
    before = assemble_context(tok, story, context, 1024, 60).ids
    typed = story + " the fox walked to the river and looked at the water"
    after = assemble_context(tok, typed, context, 1024, 60).ids
    common = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), len(before)
    )
    assert common >= len(before) - 1
    # A long last line: the note sits NOTE_STEP..2*NOTE_STEP-1 tokens before the end.
    long_line = story_text(300, seed=4, lines=False)
    b = assemble_context(tok, long_line, context, 1024, 60).breakdown
    assert NOTE_STEP - 8 <= b.note_depth_tokens < 2 * NOTE_STEP <= NOTE_MAX_DEPTH


def test_lorebook_file_errors_name_the_entry() -> None:
    good = parse_lorebook({"entry": [{"keys": ["a"], "text": "b", "priority": 2}]})
    assert good[0].to_dict() == {"keys": ["a"], "text": "b", "priority": 2}
    for data, words in [
        ({"entry": [{"keys": ["a"]}]}, "entry 1: lorebook entry needs a non-empty text"),
        ({"entry": [{"text": "b"}]}, "entry 1: lorebook entry needs keys or always = true"),
        ({"entry": [{"keys": ["a"], "text": "b", "color": 1}]}, "unknown key 'color'"),
        (
            {"entry": [{"keys": ["a"], "text": "b"}, {"keys": "[", "regex": True, "text": "c"}]},
            "entry 2: lorebook key '[' is not a valid regex",
        ),
        ({"entry": [{"keys": ["a"], "text": "b", "priority": "high"}]}, "priority must be"),
        ({"memory": "x"}, "expected only [[entry]] tables"),
    ]:
        with pytest.raises(WriterError) as err:
            parse_lorebook(data)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_engine_uses_a_context_or_preassembled_ids(tiny_engine) -> None:
    from writer.engine.types import GenerationDone

    params = SamplingParams(temperature=0, top_k=0, top_p=1.0, max_new_tokens=6)
    context = StoryContext(
        memory="A fable.", note="Sad.", lorebook=(LoreEntry(keys=("fox",), text="Vesper."),)
    )
    done = [
        e
        for e in tiny_engine.stream("The fox ran.\nIt was late.", params, n=1, context=context)
        if isinstance(e, GenerationDone)
    ][0]
    assert done.context.to_dict()["lorebook"] > 0
    assert done.stats.prompt_tokens == done.context.total
    ids = assemble_context(
        tiny_engine.tokenizer, "The fox ran.\nIt was late.", context, tiny_engine.context_size, 6
    ).ids
    again = tiny_engine.generate("", params, n=1, prompt_ids=ids)[0]
    assert again.token_ids == done.candidates[0].token_ids
    with pytest.raises(WriterError, match="prompt_ids"):
        tiny_engine.generate("", params, prompt_ids=[])
