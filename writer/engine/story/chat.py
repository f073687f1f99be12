"""Talking to a character: the transcript framing, the end of a turn, and streamed replies.

GPT-2 is not a chat model; it continues documents. A published interview is a document it has
read many of (WebText links to magazine Q&As, podcast transcripts, forum AMAs): every line
starts with the speaker's name and a colon, one speaker asks, the other answers at length in
their own voice. So a chat is framed as such a transcript, after a character sheet and the
story so far:

    <character sheet: "NAME: about">\\n          (top, as the story context's memory)
    <lorebook entries the transcript mentions>   (the draft's lorebook, as in a request)
    <the story before the cursor, front-trimmed>

    * * *

    An interview with NAME.

    Interviewer: <the author's first line>
    NAME: <the character's reply>
    ...
    Interviewer: <the author's new line>
    NAME:                                        <- the model writes from here

The name tag on every line is what tells the model whose turn it is, and what lets us find where
a turn ends: a reply is the text up to the first line break after it starts (a transcript turn
is one paragraph), or up to a speaker tag ("Interviewer:" or "NAME:") wherever one appears, so
a reply never contains the author's next line. This is enforced twice: while streaming (the
engine stops at the tags, this module cuts every candidate at its turn's end and shows nothing
past it, and cancels the request once every candidate's turn has ended) and on the final text.

The token budget is the story context's (`engine/story/context.py`): the reply's `max_new_tokens` is
reserved first, the last quarter of what is left goes to the end of the transcript (the new
line, always kept whole), then the character sheet (at most a quarter of the window), the
lorebook (at most a quarter), and the rest holds the older transcript and the story, trimmed
from the front: the story's beginning goes first, the first turns of a long chat next.

Pure framing plus a generator over any `Engine`; no torch import here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from writer.engine.sampling.stops import safe_length
from writer.engine.story.context import LoreEntry, StoryContext
from writer.engine.types import (
    CancelSignal,
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationEvent,
    TokenDelta,
)
from writer.errors import WriterError

if TYPE_CHECKING:
    from writer.engine.types import Engine
    from writer.presets import SamplingParams

Speaker = Literal["author", "character"]
AUTHOR_TAG = "Interviewer"
SCENE_BREAK = "\n\n* * *\n\n"
MAX_NAME = 60
MAX_ABOUT = 4000
# The story before the transcript: characters, not tokens (the budget trims it exactly later);
# enough to fill GPT-2's window, cheap to tokenize on every request.
STORY_CHARS = 6000


@dataclass(frozen=True)
class ChatTurn:
    """One line of a transcript: the author's ("author") or the character's ("character")."""

    speaker: Speaker
    text: str


def check_name(name: object) -> str:
    """A character's name, tidied; a one-line WriterError naming the fix otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise WriterError("the character's name is empty; give one, e.g. --character 'Mara'")
    clean = " ".join(name.split())
    if len(clean) > MAX_NAME:
        raise WriterError(f"the character's name is over {MAX_NAME} characters; shorten it")
    if ":" in clean:
        raise WriterError("the character's name cannot contain ':' (it marks a speaker's turn)")
    if clean.lower() == AUTHOR_TAG.lower():
        raise WriterError(f"{AUTHOR_TAG!r} is the author's tag in the transcript; pick another")
    return clean


def one_line(text: str) -> str:
    """The author's line as one transcript line: whitespace runs (line breaks too) -> a space."""
    return " ".join(text.split())


def description_from_context(name: str, context: StoryContext | None) -> tuple[str, int | None]:
    """The character's description from the draft's context: the first lorebook entry with a
    key that matches the name (its text, and its 0-based index), else the memory, else ""."""
    if context is None:
        return "", None
    for index, entry in enumerate(context.lorebook):
        if not entry.always and entry.trigger(name) is not None:
            return entry.text.strip(), index
    return context.memory.strip(), None


def chat_context(
    name: str,
    about: str,
    context: StoryContext | None,
    skip_entry: int | None = None,
    recall: tuple[str, int] = ("", 0),
) -> StoryContext:
    """The request's context: the character sheet as memory, the draft's lorebook (without the
    entry that already is the sheet); no author's note (it would sit inside the transcript).
    With recall on in `context`, passages of the story found by the transcript's words:
    `recall` is (the transcript's last lines, how many characters of the prompt follow the
    story)."""
    about = one_line(about)[:MAX_ABOUT]
    sheet = f"{name}: {about}" if about else f"{name}, a character in this story."
    lore: tuple[LoreEntry, ...] = ()
    if context is not None:
        lore = tuple(e for i, e in enumerate(context.lorebook) if i != skip_entry)
    scan = context.scan_depth if context is not None else StoryContext().scan_depth
    if context is None or not context.recall_on:
        return StoryContext(memory=sheet, lorebook=lore, scan_depth=scan)
    from writer.engine.story.recall import FramedRecaller

    recaller = FramedRecaller(context.recaller, *recall)
    return StoryContext(
        memory=sheet,
        lorebook=lore,
        scan_depth=scan,
        recall_tokens=context.recall_tokens,
        recaller=recaller,
    )


def chat_query(turns: Sequence[ChatTurn], line: str) -> str:
    """What recall searches the story for in a chat: the last few lines said, one a line."""
    return "".join(one_line(t.text) + "\n" for t in turns[-4:]) + one_line(line) + "\n"


def chat_prompt(name: str, story: str, turns: Sequence[ChatTurn], line: str) -> str:
    """The text the model continues (before the context's sheet and lorebook): the story's
    end, a scene break, the transcript so far, the author's `line` and the character's tag."""
    story = story[-STORY_CHARS:].strip()
    parts = [story + SCENE_BREAK if story else "", f"An interview with {name}.\n\n"]
    for turn in turns:
        tag = AUTHOR_TAG if turn.speaker == "author" else name
        parts.append(f"{tag}: {one_line(turn.text)}\n")
    parts.append(f"{AUTHOR_TAG}: {one_line(line)}\n{name}:")
    return "".join(parts)


def turn_tags(name: str) -> tuple[str, ...]:
    """The speaker tags that end a turn wherever they appear."""
    return (f"{AUTHOR_TAG}:", f"{name}:")


def chat_params(params: SamplingParams, name: str) -> SamplingParams:
    """`params` with the chat's stop texts: the engine stops a candidate at a speaker tag (the
    line-break rule needs the text's start, so `turn_end` applies it)."""
    tags = turn_tags(name)
    return params.replace(stop=(*tags, *(f"\n{t}" for t in tags)))


def turn_end(text: str, name: str) -> int | None:
    """Where the character's turn ends in a raw reply `text`, or None if it has not yet: the
    first line break after the reply's first visible character, or a speaker tag (ignoring
    case, at a word start) anywhere."""
    start = len(text) - len(text.lstrip())
    cut = None
    newline = text.find("\n", start)
    if newline >= 0 and start < len(text):
        cut = newline
    lowered = text.lower()
    for tag in turn_tags(name):
        at = lowered.find(tag.lower())
        while at >= 0:
            if at == 0 or not lowered[at - 1].isalnum():
                cut = at if cut is None else min(cut, at)
                break
            at = lowered.find(tag.lower(), at + 1)
    return cut


def trim_reply(text: str, name: str) -> str:
    """The character's turn from a raw reply: cut at its end, whitespace trimmed."""
    cut = turn_end(text, name)
    return (text if cut is None else text[:cut]).strip()


def _shown(text: str, name: str) -> tuple[str, bool]:
    """What of a growing reply can be shown now (it will not be cut later), and whether the
    turn has ended."""
    cut = turn_end(text, name)
    if cut is not None:
        return text[:cut].strip(), True
    tags = tuple(t.lower() for t in turn_tags(name))
    end = safe_length(text.lower(), tags)  # hold back what could become a tag
    return text[:end].strip(), False


def stream_replies(
    engine: Engine,
    params: SamplingParams,
    *,
    name: str,
    about: str = "",
    story: str = "",
    turns: Sequence[ChatTurn] = (),
    line: str,
    n: int = 3,
    seed: int | None = None,
    cancel: CancelSignal = None,
    context: StoryContext | None = None,
    skip_entry: int | None = None,
) -> Iterator[GenerationEvent]:
    """The engine's events for `n` replies of `name` to the author's `line`, with every
    candidate cut at the end of its turn: TokenDelta (the shown text grows; never past the
    turn's end), one CandidateDone per reply (its final, trimmed text), GenerationDone last.
    Cancels the engine's request once every candidate's turn has ended."""
    name = check_name(name)
    if not line.strip():
        raise WriterError("the author's line is empty; type something to say")
    raw = [""] * n
    shown = [""] * n
    ended = [False] * n
    finished: dict[int, Candidate] = {}
    stopped = threading.Event()  # every turn ended: we stop the engine, not the caller

    def cancelled_by_caller() -> bool:
        if cancel is None:
            return False
        return cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())

    def should_stop() -> bool:
        return stopped.is_set() or cancelled_by_caller()

    prompt = chat_prompt(name, story, turns, line)
    framing = len(prompt) - len(story[-STORY_CHARS:].strip())
    recall = (chat_query(turns, line), framing)
    events = engine.stream(
        prompt,
        chat_params(params, name),
        n=n,
        seed=seed,
        mode="continue",
        cancel=should_stop,
        context=chat_context(name, about, context, skip_entry, recall),
    )
    for event in events:
        if isinstance(event, TokenDelta):
            i = event.index
            if ended[i]:
                continue
            raw[i] += event.text
            text, done = _shown(raw[i], name)
            if text != shown[i] and text.startswith(shown[i]):
                yield TokenDelta(i, text[len(shown[i]) :], event.token_id, event.logprob)
                shown[i] = text
            if done:
                ended[i] = True
                if all(ended):
                    stopped.set()
        elif isinstance(event, CandidateDone):
            cand = _final(event.candidate, raw[event.index], ended[event.index], name)
            finished[event.index] = cand
            yield CandidateDone(event.index, cand)
        elif isinstance(event, GenerationDone):
            cands = []
            for c in event.candidates:
                if c.index not in finished:  # a request we stopped: no CandidateDone came
                    finished[c.index] = _final(c, raw[c.index], ended[c.index], name)
                    yield CandidateDone(c.index, finished[c.index])
                cands.append(finished[c.index])
            yield replace(
                event, candidates=cands, cancelled=event.cancelled and cancelled_by_caller()
            )


def _final(candidate: Candidate, raw: str, ended: bool, name: str) -> Candidate:
    """The candidate with its trimmed reply; "stop" when its turn ended (also when it was our
    own cancel that ended the request)."""
    text = trim_reply(candidate.text or raw, name)
    reason = candidate.finish_reason
    if ended or turn_end(candidate.text, name) is not None:
        reason = "stop"
    return replace(candidate, text=text, finish_reason=reason, token_logprobs=())
