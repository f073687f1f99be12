"""Recall wired through the engine's callers: a chat recalls by what is being said, a request
whose story is the tail of a longer text recalls from all of it (the app's case), and a remote
engine assembles the same prompt with the recaller as the local one."""

from __future__ import annotations

from writer.engine.story.chat import ChatTurn, stream_replies
from writer.engine.story.context import StoryContext, assemble_context
from writer.engine.story.recall import Recaller, TailRecaller
from writer.engine.types import GenerationDone
from writer.presets import SamplingParams

INTRO = "Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope."


def long_story() -> str:
    filler = [f"The fox walked to the river and looked at the water on day {d}." for d in range(60)]
    return "\n".join([INTRO, *filler]) + "\n"


def test_a_chat_recalls_what_the_author_asks_about(tiny_engine) -> None:
    story = long_story()
    context = StoryContext(recall_tokens=64, recaller=TailRecaller(Recaller(), [story]))
    params = SamplingParams(temperature=0, max_new_tokens=4)
    events = stream_replies(
        tiny_engine,
        params,
        name="Anna",
        story=story,
        turns=[ChatTurn("author", "Hello."), ChatTurn("character", "Hello to you.")],
        line="What do you know about Mirela Vask?",
        n=1,
        seed=1,
        context=context,
    )
    done = [e for e in events if isinstance(e, GenerationDone)][-1]
    assert [p.text for p in done.context.recalled] == [INTRO]
    assert done.context.recalled[0].start == 0


def test_a_tail_story_recalls_from_the_whole_text(tiny_engine) -> None:
    text = long_story() + "Nobody had seen Mirela Vask since the spring."
    tail = text[-600:]  # what the app sends: the end of the text before the cursor
    lines = text.split("\n")
    context = StoryContext(recall_tokens=64, recaller=TailRecaller(Recaller(), lines))
    tokenizer, window = tiny_engine.tokenizer, tiny_engine.context_size
    assembled = assemble_context(tokenizer, tail, context, window, 8)
    assert [p.text for p in assembled.breakdown.recalled] == [INTRO]
    assert assembled.breakdown.recalled[0].start == 0  # an offset in the whole text
    # Typing inside the last sentence keeps the recalled passage and the prompt's start.
    # (the app makes each request's TailRecaller anew, over the same Recaller)
    again = TailRecaller(context.recaller.recaller, (text + " She was").split("\n"))
    context = StoryContext(recall_tokens=64, recaller=again)
    typed = assemble_context(tokenizer, tail + " She was", context, window, 8)
    recalled_ids = assembled.ids[: assembled.breakdown.recall]
    assert typed.ids[: len(recalled_ids)] == recalled_ids
