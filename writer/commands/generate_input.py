"""What `writer generate` reads before a model loads: the prompt (an argument, a file or standard
input, strictly UTF-8), a JSON-lines prompts file (one request per line), the story context
(--memory, --note, --lorebook) and recall (--recall, --no-recall, --recall-tokens; attached per
request once the model's window is known). Every problem is one line naming the fix.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writer.engine.types import MAX_CANDIDATES, MAX_SEED
from writer.errors import UsageError, WriterError
from writer.textfiles import MAX_TEXT_BYTES, read_text_file

MODES = ("continue", "ideas")


def read_context(args: argparse.Namespace) -> Any:
    """The StoryContext from --memory/--note/--lorebook (None without them), read and validated
    before the model loads."""
    if args.memory is None and args.note is None and args.lorebook is None:
        return None
    from writer.engine.story.context import StoryContext
    from writer.engine.story.lorebook import load_lorebook

    memory = read_text_file(Path(args.memory), purpose="read memory file") if args.memory else ""
    lorebook = load_lorebook(Path(args.lorebook)) if args.lorebook else ()
    return StoryContext(memory=memory, note=args.note or "", lorebook=lorebook)


@dataclass(frozen=True)
class RecallSetting:
    """Recall for `writer generate`: `mode` "off", "on" (always: the breakdown is reported) or
    "auto" (only when the story does not fit the window); `tokens` the cap (None: the
    default, an eighth of the window)."""

    mode: str
    tokens: int | None


def read_recall(args: argparse.Namespace, preset: str) -> RecallSetting:
    """The recall setting from the flags, then the preset's `recall_tokens`, then config's."""
    from writer.config import check_recall_tokens, load_config
    from writer.presets import find_preset

    flag = getattr(args, "recall_tokens", None)
    if args.recall is False:
        if flag is not None:
            raise UsageError("--recall-tokens needs recall on; drop --no-recall or the cap")
        return RecallSetting("off", None)
    if flag is not None:
        try:
            check_recall_tokens(flag, "--recall-tokens")
        except WriterError as exc:
            raise UsageError(str(exc)) from None
        return RecallSetting("on" if flag else "off", flag)
    tokens = find_preset(preset).recall_tokens
    if tokens is None:
        tokens = load_config().recall_tokens
    if args.recall:
        return RecallSetting("on", tokens or None)
    return RecallSetting("auto" if tokens != 0 else "off", tokens)


def with_recall(
    context: Any, prompt: str, engine: Any, setting: RecallSetting, max_new: int, mode: str
) -> Any:
    """The request's story context with a Recaller over `prompt` (its own, in memory), or
    `context` unchanged when recall is off or, in "auto", when a story with no other context
    fits the window whole (so its prompt and output are exactly what they were without
    recall). A context with memory, a note or a lorebook always gets the recaller: assembly
    only recalls when it has to trim the story."""
    if setting.mode == "off":
        return context
    from dataclasses import replace

    from writer.engine.story.context import StoryContext, default_recall_tokens
    from writer.engine.story.prompts import IDEAS_FRAME, encode
    from writer.engine.story.recall import Recaller, surely_fits

    window = int(engine.context_size)
    if setting.mode == "auto" and context is None:
        tokenizer = engine.tokenizer
        frame = len(encode(tokenizer, IDEAS_FRAME)) if mode == "ideas" else 0
        room = window - min(max_new, window - 1) - frame
        # Prose averages about 4 characters a token: only a prompt between the bounds is counted.
        if surely_fits(prompt, room) or (
            len(prompt) <= 8 * room and len(encode(tokenizer, prompt)) <= room
        ):
            return None
    tokens = setting.tokens if setting.tokens else default_recall_tokens(window)
    return replace(context or StoryContext(), recall_tokens=tokens, recaller=Recaller())


@dataclass
class Request:
    """One generation request: its prompt, mode, candidates and seed (None: a random one)."""

    prompt: str
    mode: str
    n: int
    seed: int | None


def check_n(n: Any, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CANDIDATES:
        message = f"{where or '-'}n must be 1 to {MAX_CANDIDATES} candidates; got {n!r}"
        raise WriterError(message) if where else UsageError(message)
    return n


def _check_text(text: str, what: str) -> str:
    """`text` if it can be encoded as UTF-8 (no lone surrogates), else a one-line error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WriterError(
            f"{what} is not valid UTF-8 text (character {exc.start + 1} is "
            f"{ascii(text[exc.start])}, an unpaired surrogate or a byte that is not UTF-8); "
            "fix the text or convert it to UTF-8"
        ) from None
    return text


def _read_stdin() -> str:
    """Standard input as UTF-8 (strictly: a terminal's or a pipe's bytes, whatever the locale)."""
    if sys.stdin is None:  # started with standard input closed (`<&-`)
        raise WriterError("standard input is closed; pipe the prompt in, or give it as PROMPT")
    stream = getattr(sys.stdin, "buffer", None)
    try:
        data = stream.read(MAX_TEXT_BYTES + 1) if stream is not None else sys.stdin.read()
    except UnicodeDecodeError:
        raise WriterError("standard input is not UTF-8 text; convert it to UTF-8") from None
    except OSError as exc:
        raise WriterError(f"cannot read standard input: {exc.strerror or exc}") from None
    if isinstance(data, str):
        return _check_text(data, "standard input")
    if len(data) > MAX_TEXT_BYTES:
        raise WriterError(
            f"standard input is over the {MAX_TEXT_BYTES // (1024 * 1024)} MB limit for a "
            "prompt; pass a shorter text"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WriterError(
            f"standard input is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); convert it to UTF-8"
        ) from None


def read_requests(args: argparse.Namespace) -> list[Request]:
    """Every request, validated before any model is loaded (so bad input fails fast)."""
    n = check_n(3 if args.n is None else args.n, "")
    if args.prompts:
        text = read_text_file(Path(args.prompts), purpose="read prompts file")
        requests = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{args.prompts} line {number}: "
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise WriterError(
                    f"{where}not valid JSON ({exc.msg}); write one JSON string or object per line"
                ) from None
            if isinstance(item, str):
                item = {"prompt": item}
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
                raise WriterError(f'{where}expected a string or an object with a "prompt" text')
            unknown = set(item) - {"prompt", "mode", "n", "seed"}
            if unknown:
                raise WriterError(
                    f"{where}unknown key {sorted(unknown)[0]!r}; allowed: prompt, mode, n, seed"
                )
            mode = item.get("mode", args.mode)
            if mode not in MODES:
                raise WriterError(f"{where}mode must be continue or ideas; got {mode!r}")
            seed = item.get("seed", args.seed)
            if seed is not None and (
                isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
            ):
                raise WriterError(
                    f"{where}seed must be a whole number from 0 to {MAX_SEED}; got {seed!r}"
                )
            prompt = _check_text(item["prompt"], f"{where}the prompt")
            requests.append(Request(prompt, mode, check_n(item.get("n", n), where), seed))
        if not requests:
            raise WriterError(f"prompts file {args.prompts} has no prompts; add one JSON per line")
        return requests
    if args.prompt_file:
        if args.prompt is not None:
            raise UsageError("give either PROMPT or --prompt-file, not both")
        from writer.engine.story.prompts import strip_idea_notes

        # As in the app: the author's [Idea: ...] notes are not part of the story.
        prompt = strip_idea_notes(
            read_text_file(Path(args.prompt_file), purpose="read prompt file")
        )
    elif args.prompt == "-":
        prompt = _read_stdin()
    else:
        prompt = _check_text(args.prompt or "", "the prompt")
    return [Request(prompt, args.mode, n, args.seed)]
