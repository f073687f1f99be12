"""Story context -> the token ids the model sees, and a breakdown of what went in.

A base model only continues text, so steering it means putting text before the story:

    <memory>\\n                         top: premise, characters, style (always there)
    <lorebook entry>\\n ...             top: entries whose keys appear near the end of the story
    <recalled passage>\\n ...           passages from before the window (engine/story/recall.py)
    <story, front-trimmed> ...
    [Author's note: <note>]\\n          `note_depth` lines before the end of the story
    <last note_depth lines of the story>
    (ideas mode: the ideas frame)

Why this layout: writer keeps the previous request's keys/values and reuses the longest common
prefix of token ids. Memory and lorebook change rarely, so they go first; the note sits at the
start of a line a few lines from the end, so typing on the last line changes only tokens after
it (the cache is reused up to where the typing began), and the note moves only when a new line
starts. (KoboldCpp places world info and the note so that any edit moves them, and its users
lose the cache whenever they use them.)

Budget, exact, in the model's own tokens: `max_new_tokens` is reserved first; then, in this
priority order, the last `story_min` tokens of the story (a quarter of what is left, at most the
whole story), memory (up to its cap; cut at its end), the author's note (up to its cap; cut at its
end), lorebook entries (up to the lorebook cap: always-on entries first, then by priority, higher
first, then in file order; an entry is included whole or left out), recalled passages (only when
the story does not fit whole: up to `recall_tokens`, best first, each whole or left out, passages
starting inside the story's window never; what they leave of `recall_tokens` stays unused, so the
story's window does not move as the recalled set changes; nothing recalled: no room taken), and
then as much of the rest of the story as fits, trimmed from the front in 128-token steps
(`prompts.fit_story`) so the prefix cache survives typing (to the exact token when a step would
cut into `story_min`). With recall off (no `recaller`, or `recall_tokens` None or 0) the ids are
exactly those without it.

Pure: no model, no files (lorebook.py reads the lorebook file); the tokenizer is the only input
beyond data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from writer.engine.story.lorebook import MAX_ENTRIES, LoreEntry
from writer.engine.story.prompts import IDEAS_FRAME, encode, fit_story
from writer.errors import WriterError

NOTE_TEMPLATE = "[Author's note: {note}]\n"
DEFAULT_NOTE_DEPTH = 3  # lines before the end of the story
DEFAULT_SCAN_DEPTH = 256  # tokens at the end of the story searched for lorebook keys
# Caps, as fractions of the context window (GPT-2: 256, 256 and 64 tokens); the note gets at
# least NOTE_MIN_CAP so that its template fits in small windows too.
MEMORY_CAP = 1 / 4
LOREBOOK_CAP = 1 / 4
NOTE_CAP = 1 / 16
NOTE_MIN_CAP = 32
# A note whose `note_depth` lines span more than this many tokens goes at a word start
# NOTE_STEP to 2 * NOTE_STEP - 1 tokens before the end instead, on a NOTE_STEP grid, so a long
# last paragraph does not bury it and it still moves only every NOTE_STEP tokens typed.
NOTE_MAX_DEPTH = 128
NOTE_STEP = 64
RECALL_CAP = 1 / 8  # the default `recall_tokens`, as a fraction of the window (GPT-2: 128)
MAX_RECALL_TOKENS = 8192


def default_recall_tokens(window: int) -> int:
    """The recall cap a user who turns recall on gets: RECALL_CAP of the window."""
    return int(window * RECALL_CAP)


@dataclass(frozen=True)
class StoryContext:
    """What the author gives the model besides the story. Validated on creation."""

    memory: str = ""
    note: str = ""
    note_depth: int = DEFAULT_NOTE_DEPTH
    lorebook: tuple[LoreEntry, ...] = ()
    scan_depth: int = DEFAULT_SCAN_DEPTH
    # Recall (engine/story/recall.py): the cap in tokens (None or 0: off) and what supplies the
    # passages, an object with `candidates(story, before) -> passages best first` (a Recaller).
    recall_tokens: int | None = None
    recaller: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.memory, str) or not isinstance(self.note, str):
            raise WriterError("memory and author's note must be texts")
        tokens = self.recall_tokens
        if tokens is not None and (
            isinstance(tokens, bool)
            or not isinstance(tokens, int)
            or not 0 <= tokens <= MAX_RECALL_TOKENS
        ):
            raise WriterError(
                f"recall_tokens must be a whole number, 0 (off) to {MAX_RECALL_TOKENS}; "
                f"got {tokens!r}"
            )
        if self.recaller is not None and not callable(getattr(self.recaller, "candidates", None)):
            raise WriterError("recaller must have candidates(story, before), like a Recaller")
        for name, value, low, high in (
            ("note_depth", self.note_depth, 0, 100),
            ("scan_depth", self.scan_depth, 1, 4096),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise WriterError(f"{name} must be a whole number, {low} to {high}; got {value!r}")
        object.__setattr__(self, "lorebook", tuple(self.lorebook))
        if len(self.lorebook) > MAX_ENTRIES:
            raise WriterError(f"a lorebook holds at most {MAX_ENTRIES} entries")

    @property
    def empty(self) -> bool:
        return not (self.memory.strip() or self.note.strip() or self.lorebook)

    @property
    def recall_on(self) -> bool:
        return self.recaller is not None and bool(self.recall_tokens)


@dataclass(frozen=True)
class EntryUse:
    """A lorebook entry considered for a request: 1-based `index` in the lorebook."""

    index: int
    keys: tuple[str, ...]
    tokens: int
    why: str  # "always", the key that matched, or why it was left out ("no room")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "keys": list(self.keys),
            "tokens": self.tokens,
            "why": self.why,
        }


@dataclass(frozen=True)
class ContextBreakdown:
    """Tokens per part of an assembled prompt, what was used, left out and trimmed."""

    window: int
    max_new_tokens: int
    memory: int
    lorebook: int
    note: int
    story: int
    frame: int = 0
    entries: tuple[EntryUse, ...] = ()
    left_out: tuple[EntryUse, ...] = ()
    story_trimmed: int = 0  # story tokens dropped from the front
    memory_trimmed: int = 0  # memory tokens cut at its end (over its cap or the room left)
    note_trimmed: int = 0  # note tokens cut (over its cap), or all of it if it did not fit
    note_depth_tokens: int = 0  # story tokens after the note
    parts: tuple[tuple[str, int], ...] = field(default=(), repr=False)  # layout, in order
    recall: int = 0  # tokens of recalled passages
    recalled: tuple[Any, ...] = ()  # recall.Passage, in the order they stand in the prompt

    @property
    def total(self) -> int:
        return self.memory + self.lorebook + self.recall + self.note + self.story + self.frame

    def to_dict(self) -> dict[str, Any]:
        """The `"context"` object of `writer generate --json`."""
        return {
            "memory": self.memory,
            "note": self.note,
            "lorebook": self.lorebook,
            "recall": self.recall,
            "story": self.story,
            "frame": self.frame,
            "total": self.total,
            "window": self.window,
            "max_new_tokens": self.max_new_tokens,
            "entries": [e.to_dict() for e in self.entries],
            "left_out": [e.to_dict() for e in self.left_out],
            "recalled": [p.to_dict() for p in self.recalled],
            "trimmed": {
                "story": self.story_trimmed,
                "memory": self.memory_trimmed,
                "note": self.note_trimmed,
            },
            "note_depth_tokens": self.note_depth_tokens,
        }


@dataclass(frozen=True)
class AssembledContext:
    ids: list[int]
    breakdown: ContextBreakdown


def assemble_context(
    tokenizer: Any,
    story: str,
    context: StoryContext,
    window: int,
    max_new_tokens: int,
    *,
    mode: str = "continue",
) -> AssembledContext:
    """The prompt token ids for `story` with `context`, fitting `window` with room for
    `max_new_tokens`, and its breakdown (see the module docstring for layout and priorities)."""
    eos = tokenizer.eos_token_id
    frame = encode(tokenizer, IDEAS_FRAME) if mode == "ideas" else []
    avail = window - max_new_tokens - len(frame)
    if avail < 1:
        raise WriterError(
            f"max_new_tokens {max_new_tokens} leaves no room in the {window}-token window"
        )
    story_ids = encode(tokenizer, story) if story else []
    story_min = min(len(story_ids), max(1, avail // 4))
    room = avail - story_min

    memory_ids: list[int] = []
    memory_trimmed = 0
    if context.memory.strip():
        full = encode(tokenizer, context.memory.strip() + "\n")
        cap = min(int(window * MEMORY_CAP), room)
        memory_ids = full[:cap]
        if len(full) > cap:  # cut: still end it with a line break, so the story starts a line
            newline = encode(tokenizer, "\n")
            memory_ids = full[: max(0, cap - len(newline))] + newline if cap > len(newline) else []
        memory_trimmed = len(full) - len(memory_ids)
        room -= len(memory_ids)

    note_ids: list[int] = []
    note_trimmed = 0
    if context.note.strip():
        head, tail = NOTE_TEMPLATE.split("{note}")
        head_ids, tail_ids = encode(tokenizer, head), encode(tokenizer, tail)
        inner = encode(tokenizer, context.note.strip())
        cap = min(max(int(window * NOTE_CAP), NOTE_MIN_CAP), room) - len(head_ids) - len(tail_ids)
        if cap >= 1:
            note_ids = head_ids + inner[:cap] + tail_ids
            note_trimmed = max(0, len(inner) - cap)
            room -= len(note_ids)
        else:
            note_trimmed = len(inner) + len(head_ids) + len(tail_ids)

    scanned = tokenizer.decode(story_ids[-context.scan_depth :]) if story_ids else ""
    chosen, left_out = _pick_entries(
        tokenizer, context.lorebook, scanned, min(int(window * LOREBOOK_CAP), room)
    )
    chosen.sort(key=lambda c: c[0].index)  # file order, whatever the priority: a stable top
    lore_ids = [t for _, ids in chosen for t in ids]

    budget = avail - len(memory_ids) - len(note_ids) - len(lore_ids)
    kept, dropped = _fit(story_ids, budget, story_min)
    recall_ids: list[int] = []
    recalled: tuple[Any, ...] = ()
    if context.recall_on and dropped:
        reserve = min(context.recall_tokens or 0, room - len(lore_ids))
        if reserve > 0:
            fewer, fewer_dropped = _fit(story_ids, budget - reserve, story_min)
            # The window's start as a character offset in `story`, from the end (decoding only
            # the kept tokens): passages starting there or later are in the window already.
            before = len(story) - len(tokenizer.decode(fewer))
            picked = _pick_passages(tokenizer, context.recaller.candidates(story, before), reserve)
            if picked:
                kept, dropped = fewer, fewer_dropped
                recalled = tuple(passage for passage, _ in picked)
                recall_ids = [t for _, ids in picked for t in ids]
    position = _note_position(tokenizer, kept, context.note_depth) if note_ids else len(kept)
    header = memory_ids + lore_ids + recall_ids
    body = kept[:position] + note_ids + kept[position:]
    ids = header + body + frame
    if not ids or (not header and not kept and not note_ids):
        ids = [eos] + frame
    parts = (
        ("memory", len(memory_ids)),
        ("lorebook", len(lore_ids)),
        ("recall", len(recall_ids)),
        ("story", position),
        ("note", len(note_ids)),
        ("story", len(kept) - position),
        ("frame", len(frame)),
    )
    breakdown = ContextBreakdown(
        window=window,
        max_new_tokens=max_new_tokens,
        memory=len(memory_ids),
        lorebook=len(lore_ids),
        note=len(note_ids),
        story=len(kept),
        frame=len(frame),
        entries=tuple(use for use, _ in chosen),
        left_out=tuple(left_out),
        story_trimmed=dropped,
        memory_trimmed=memory_trimmed,
        note_trimmed=note_trimmed,
        note_depth_tokens=len(kept) - position if note_ids else 0,
        parts=parts,
        recall=len(recall_ids),
        recalled=recalled,
    )
    return AssembledContext(ids, breakdown)


def _fit(story_ids: list[int], budget: int, story_min: int) -> tuple[list[int], int]:
    """The story's kept tokens and how many were dropped from the front (`fit_story`, but
    to the exact token where its 128-token step would eat into `story_min`)."""
    kept, dropped = fit_story(story_ids, budget)
    if len(kept) < story_min:
        dropped = len(story_ids) - budget
        kept = story_ids[dropped:]
    return kept, dropped


def _pick_passages(tokenizer: Any, candidates: Any, room: int) -> list[tuple[Any, list[int]]]:
    """Recalled passages that fit `room` (best first, each whole or left out), returned in
    story order (by start) with their ids: a passage's line, text then a line break."""
    from dataclasses import replace

    chosen = []
    used = 0
    for passage in candidates:
        ids = encode(tokenizer, passage.text.strip() + "\n")
        if used + len(ids) <= room:
            chosen.append((replace(passage, tokens=len(ids)), ids))
            used += len(ids)
    chosen.sort(key=lambda c: c[0].start)
    return chosen


def _pick_entries(
    tokenizer: Any, entries: tuple[LoreEntry, ...], scanned: str, room: int
) -> tuple[list[tuple[EntryUse, list[int]]], list[EntryUse]]:
    """Triggered entries that fit `room`: always-on first, then higher priority, then file
    order; each whole or not at all (a smaller one after a big one may still fit)."""
    triggered = []
    for index, entry in enumerate(entries, 1):
        why = entry.trigger(scanned)
        if why is not None:
            triggered.append((not entry.always, -entry.priority, index, entry, why))
    chosen: list[tuple[EntryUse, list[int]]] = []
    left_out: list[EntryUse] = []
    used = 0
    for _, _, index, entry, why in sorted(triggered, key=lambda t: t[:3]):
        ids = encode(tokenizer, entry.text.strip() + "\n")
        if used + len(ids) <= room:
            chosen.append((EntryUse(index, entry.keys, len(ids), why), ids))
            used += len(ids)
        else:
            left_out.append(EntryUse(index, entry.keys, len(ids), "no room"))
    return chosen, left_out


def _note_position(tokenizer: Any, kept: list[int], depth: int) -> int:
    """Where the note goes in the kept story tokens: after the newline that starts the
    `depth`-th last line (0: at the very end); see NOTE_MAX_DEPTH for long last lines."""
    if depth == 0 or not kept:
        return len(kept)
    from writer.engine.sampling.tokentable import token_table

    table = token_table(tokenizer, len(tokenizer))
    texts = [table.texts[i] if i < len(table.texts) else b"" for i in kept]
    position = 0
    seen = 0
    for i in range(len(kept) - 1, -1, -1):
        if b"\n" in texts[i]:
            # A line starts after this token; the story's last line counts as line 1 even if
            # it is still empty.
            seen += 1
            if seen == depth:
                position = i + 1
                break
    if len(kept) - position > NOTE_MAX_DEPTH:
        grid = max(0, (len(kept) - NOTE_STEP) // NOTE_STEP * NOTE_STEP)
        position = grid
        # Move back to the start of a word (at most a few tokens) so the note is not mid-word.
        for back in range(grid, max(grid - 8, 0), -1):
            if texts[back][:1] in (b" ", b"\n", b"\t"):
                position = back
                break
    return position
