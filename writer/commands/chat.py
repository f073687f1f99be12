"""`writer chat`: talk to a character line by line, or in batches with --json.

Interactive at a terminal (prompt_toolkit: line editing and history; a digit picks a reply as
soon as it is pressed, Enter the first, r asks again); from a pipe, each line of
standard input is the author's line (and, with -n above 1 and without --json, the line after it
picks a reply: a digit, Enter for the first, r to regenerate). See `writer.engine.story.chat`
for how the transcript is framed and where a turn ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from writer.commands import device_type, seed_type
from writer.engine.types import MAX_CANDIDATES, MAX_SEED
from writer.errors import UsageError, WriterError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chat",
        help="talk to a character of a draft",
        description="Interview a character: type a line, pick one of N replies in their voice. "
        "With --draft the chat is saved with the draft and continues its last chat with NAME.",
    )
    p.add_argument("--character", required=True, metavar="NAME", help="the character's name")
    p.add_argument(
        "--about",
        metavar="TEXT|FILE",
        help="who the character is: a text, or a UTF-8 file (default: the draft's lorebook "
        "entry for NAME, else its memory)",
    )
    p.add_argument("--draft", type=int, metavar="ID", help="the draft: story, context, saving")
    p.add_argument("--new", action="store_true", help="with --draft: start a new chat")
    p.add_argument("--model", help="hub id, local folder or fine-tuned name (default: config)")
    p.add_argument("--engine", metavar="URL", help="an OpenAI-compatible server (see generate)")
    p.add_argument("--device", type=device_type, help="cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--preset", help="creativity preset (see `writer presets`)")
    p.add_argument("-n", type=int, default=3, metavar="N", help="replies to choose from (3)")
    p.add_argument("--max-new-tokens", type=int, help="longest reply, in tokens")
    p.add_argument("--seed", type=seed_type, help=f"seed of the first request, 0 to {MAX_SEED}")
    p.add_argument(
        "--json",
        action="store_true",
        help="each stdin line is the author's line; prints one JSON object per line with "
        '"replies" (the first is taken as the character\'s turn)',
    )


@dataclass
class Session:
    """One chat: who, the background, the transcript, and where turns are saved."""

    name: str
    about: str
    story: str = ""
    context: Any = None  # the draft's StoryContext
    skip_entry: int | None = None
    turns: list[Any] = field(default_factory=list)
    store: Any = None
    chat_id: int | None = None

    def add(self, speaker: str, text: str) -> None:
        from writer.engine.story.chat import ChatTurn

        if self.store is not None and self.chat_id is not None:
            turn = self.store.chats.add_turn(self.chat_id, speaker, text)  # saved before shown
        else:
            turn = ChatTurn(speaker, " ".join(text.split()))  # type: ignore[arg-type]
        self.turns.append(turn)


def _read_about(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if "\n" not in value and len(value) < 4096 and path.exists():
        from writer.textfiles import read_text_file

        return read_text_file(path, purpose="read --about file").strip()
    return _utf8(value, "--about").strip()


def _utf8(text: str, where: str) -> str:
    """`text` if it is UTF-8 text (no undecodable bytes smuggled in as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise WriterError(f"{where} is not UTF-8 text; save it as UTF-8") from None
    return text


# A line the author types or pipes; longer is not a chat line (`< /dev/zero` is one endless
# line: without a limit the process grew to 22.8 GB).
MAX_LINE_CHARS = 64 * 1024


def check_stdin() -> None:
    """Refuse, before the model loads, standard input that cannot hold chat lines: closed, or a
    device other than a terminal or /dev/null (`< /dev/zero` would never end a line)."""
    import os
    import stat

    if sys.stdin is None:
        raise WriterError("standard input is closed; type at a terminal or pipe lines in")
    try:
        st = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        return  # not a real file descriptor (tests, an embedding): nothing to check
    if not stat.S_ISCHR(st.st_mode) or sys.stdin.isatty():
        return
    with contextlib.suppress(OSError):
        if st.st_rdev == os.stat(os.devnull).st_rdev:
            return  # empty input: the chat ends at once
    raise WriterError(
        "standard input is a device, not text (such as /dev/zero); type at a terminal, or "
        "pipe a file of lines in"
    )


def _stdin_lines() -> Iterator[str]:
    """Standard input's lines, numbered in errors; one-line errors for non-UTF-8 input and for
    a line over MAX_LINE_CHARS."""
    number = 0
    while True:
        try:
            raw = sys.stdin.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError:
            raise WriterError(
                f"line {number + 1} of standard input is not UTF-8 text; save it as UTF-8"
            ) from None
        if raw == "":
            return
        number += 1
        if len(raw) > MAX_LINE_CHARS:
            raise WriterError(
                f"line {number} of standard input is over {MAX_LINE_CHARS:,} characters; "
                "a chat line must be shorter"
            )
        yield _utf8(raw, f"line {number} of standard input")


def _params(args: argparse.Namespace) -> Any:
    from writer.config import load_config
    from writer.presets import ParamError, get_preset

    try:
        params = get_preset(args.preset if args.preset is not None else load_config().preset)
        if args.max_new_tokens is not None:
            params = params.replace(max_new_tokens=args.max_new_tokens)
    except (ParamError, WriterError) as exc:
        raise UsageError(f"{exc} (see `writer chat --help`)") from None
    return params


def _session(args: argparse.Namespace) -> Session:
    """Everything checked before the model loads: name, -n, --about, the draft."""
    from writer.engine.story.chat import check_name, description_from_context

    try:
        name = check_name(args.character)
    except WriterError as exc:
        raise UsageError(str(exc)) from None
    if not 1 <= args.n <= MAX_CANDIDATES:
        raise UsageError(f"-n must be 1 to {MAX_CANDIDATES} replies; got {args.n}")
    if args.new and args.draft is None:
        raise UsageError("--new starts a new chat of a draft; give --draft ID")
    about = _read_about(args.about)
    if args.draft is None:
        return Session(name, about or "")
    from writer.store import DraftStore

    store = DraftStore.open()
    try:
        try:
            draft = store.get_draft(args.draft)
        except WriterError as exc:
            raise UsageError(str(exc)) from None
        context = store.context.load(draft.id)
        found, entry = description_from_context(name, context)
        session = Session(name, about if about is not None else found, draft.text, context)
        session.skip_entry = entry if about is None else None
        chat = None if args.new else store.chats.latest(draft.id, name)
        if chat is None:
            chat = store.chats.create(draft.id, name, session.about)
        else:  # continued: the name as the chat began, so the transcript stays consistent
            session.name = chat.character
            session.about = about if about is not None else chat.about or found
            session.turns = list(chat.turns)
        session.store, session.chat_id = store, chat.id
    except BaseException:
        store.close()
        raise
    return session


def _with_recall(context: Any, story: str, config: Any, engine: Any) -> Any:
    """The draft's context with recall over its whole text (docs/recall.md): the draft's
    `recall_tokens`, else the config's, else an eighth of the window; 0 is off."""
    if context is None or not story:
        return context
    tokens = context.recall_tokens if context.recall_tokens is not None else config.recall_tokens
    if tokens == 0:
        return context
    from dataclasses import replace

    from writer.engine.story.context import default_recall_tokens
    from writer.engine.story.recall import Recaller, TailRecaller

    if tokens is None:
        tokens = default_recall_tokens(int(engine.context_size))
    return replace(context, recall_tokens=tokens, recaller=TailRecaller(Recaller(), [story]))


def run(args: argparse.Namespace) -> int:
    params = _params(args)
    check_stdin()
    if args.model is not None and not args.model.strip():
        raise UsageError("--model is empty; give a hub id such as gpt2, a folder or a fine-tune")
    session = _session(args)
    try:
        from writer.config import load_config
        from writer.engine.opening import open_engine

        config = load_config()
        spec = args.engine if args.engine is not None else config.engine
        model = args.model if args.model is not None else config.model
        engine = open_engine(
            spec, model, device=args.device or config.device, server_model=args.model
        )
        session.context = _with_recall(session.context, session.story, config, engine)
        if session.chat_id is not None:
            note = f"chat {session.chat_id} with {session.name}"
            if session.turns:
                note += f", continuing after {len(session.turns)} turns"
            print(f"writer: {note}", file=sys.stderr)
        if args.json:
            return _run_json(engine, params, session, args)
        return _run_lines(engine, params, session, args)
    finally:
        if session.store is not None:
            session.store.close()


def _replies(engine: Any, params: Any, session: Session, line: str, n: int, seed: Any) -> Any:
    """The GenerationDone of one request (its candidates are the trimmed replies)."""
    from writer.engine.story.chat import stream_replies
    from writer.engine.types import GenerationDone

    done = None
    for event in stream_replies(
        engine,
        params,
        name=session.name,
        about=session.about,
        story=session.story,
        turns=session.turns,
        line=line,
        n=n,
        seed=seed,
        context=session.context,
        skip_entry=session.skip_entry,
    ):
        if isinstance(event, GenerationDone):
            done = event
    assert done is not None
    return done


def _run_json(engine: Any, params: Any, session: Session, args: argparse.Namespace) -> int:
    seed = args.seed
    for raw in _stdin_lines():
        line = " ".join(raw.split())
        if not line:
            continue
        done = _replies(engine, params, session, line, args.n, seed)
        replies = [c.text for c in done.candidates]
        session.add("author", line)
        session.add("character", replies[0])
        result = {
            "character": session.name,
            "line": line,
            "replies": replies,
            "seed": done.seed,
            "chat": session.chat_id,
        }
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if seed is not None:
            seed = min(seed + args.n, MAX_SEED - args.n)  # the next request differs
    return 0


def _at_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _line_reader(prompt_text: str) -> Callable[[str], str | None]:
    """A function that asks for one line (None at end of input): prompt_toolkit at a
    terminal, plain lines from a pipe."""
    if _at_terminal():
        from prompt_toolkit import PromptSession

        prompt_session: Any = PromptSession(key_bindings=_pasted_escapes())

        def ask(label: str) -> str | None:
            try:
                return _printable(_utf8(prompt_session.prompt(label), "your line"))
            except EOFError:
                return None

        return ask

    lines = _stdin_lines()

    def read(label: str) -> str | None:
        return next(lines, None)

    return read


def _printable(text: str) -> str:
    """`text` without control characters (a pasted escape sequence, a stray bell)."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "" for ch in text)


def _pasted_escapes() -> Any:
    """prompt_toolkit key bindings for an escape sequence typed or pasted as text: its input
    parser reads `ESC [ 3 1 m` as a mouse event, whose handler then fails ("Unhandled exception
    in event loop"). Mouse reports are ignored (the chat has no mouse support); anything else
    is inserted as the printable text it holds ("[31m")."""
    import re

    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.keys import Keys

    bindings = KeyBindings()
    mouse_report = re.compile(r"^\x1b\[(<?\d+;\d+;\d+[mM]|M...)$", re.S)

    @bindings.add(Keys.Vt100MouseEvent)
    def _(event: Any) -> None:
        if not mouse_report.match(event.data):
            event.current_buffer.insert_text(_printable(event.data))

    return bindings


def _lines(ask: Callable[[str], str | None], label: str) -> Iterator[str]:
    while True:
        line = ask(label)
        if line is None:
            return
        if line.strip():
            yield " ".join(line.split())


def _run_lines(engine: Any, params: Any, session: Session, args: argparse.Namespace) -> int:
    from writer.engine.story.chat import AUTHOR_TAG

    ask = _line_reader(f"{AUTHOR_TAG}: ")
    out = sys.stdout
    for turn in session.turns:  # the chat so far, when continuing
        who = AUTHOR_TAG if turn.speaker == "author" else session.name
        out.write(f"{who}: {turn.text}\n")
    seed = args.seed
    for line in _lines(ask, f"{AUTHOR_TAG}: "):
        while True:
            done = _replies(engine, params, session, line, args.n, seed)
            if seed is not None:
                seed = min(seed + args.n, MAX_SEED - args.n)
            replies = [c.text for c in done.candidates]
            if args.n == 1:
                choice: str | int | None = 0
            else:
                for i, reply in enumerate(replies, 1):
                    out.write(f"  {i}. {reply or '(no reply)'}\n")
                out.flush()
                choice = _key_pick(len(replies)) if _at_terminal() else _pick(ask, len(replies))
            if choice == "again":
                continue
            break
        if choice is None:  # end of input while picking: the line is not sent
            return 0
        session.add("author", line)
        session.add("character", replies[int(choice)])
        out.write(f"{session.name}: {session.turns[-1].text}\n")
        out.flush()
    return 0


def _key_pick(count: int, session: Any = None) -> int | str | None:
    """At a terminal: a reply's index as soon as its digit is pressed (Enter: the first),
    "again" for r, None at end of input (ctrl+d). `session`: a prompt_toolkit PromptSession
    (tests hand one reading from a pipe)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings

    keys = KeyBindings()

    def answer(result: int | str) -> Callable[[Any], None]:
        return lambda event: event.app.exit(result=result)

    for number in range(1, min(count, 9) + 1):
        keys.add(str(number))(answer(number - 1))
    keys.add("r")(answer("again"))
    keys.add("enter")(answer(0))
    keys.add("c-d")(answer(""))
    session = session or PromptSession()
    try:
        result = session.prompt(f"pick 1-{min(count, 9)} (Enter: 1, r: again): ", key_bindings=keys)
    except EOFError:
        return None
    return None if result == "" else result


def _pick(ask: Callable[[str], str | None], count: int) -> int | str | None:
    """A reply's index from a digit (Enter: the first), "again" for r, None at end of input."""
    while True:
        answer = ask(f"pick 1-{count} (Enter: 1, r: again): ")
        if answer is None:
            return None
        answer = answer.strip().lower()
        if answer in ("", "1"):
            return 0
        if answer == "r":
            return "again"
        if answer.isdigit() and 1 <= int(answer) <= count:
            return int(answer) - 1
        print(f"writer: type a number from 1 to {count}, Enter or r", file=sys.stderr)
