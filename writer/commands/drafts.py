"""`writer drafts ...`: list, show, export, import, delete, history and restore drafts."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from writer.errors import UsageError, WriterError

ACTIONS = ("list", "show", "export", "import", "delete", "history", "restore")
# These only read: they still work, read-only, where the database cannot be written (a
# read-only data folder, a full disk), so the user can always get their text out.
READING_ACTIONS = ("list", "show", "export", "history")


# SQLite integers are signed 64-bit: a larger number can name no draft or revision.
MAX_ID = 2**63 - 1


def _draft_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ID; IDs are whole numbers") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ID; IDs start at 1")
    if number > MAX_ID:
        raise argparse.ArgumentTypeError(
            f"{value} is too large to be an ID (at most {MAX_ID}); see `writer drafts list`"
        )
    return number


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("drafts", help="list, show, export, import and delete drafts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.add_parser("list", help="one draft per line, newest first: ID, title, words, edited")
    show = actions.add_parser("show", help="a draft's details and text")
    show.add_argument("id", type=_draft_id, metavar="ID")
    export = actions.add_parser("export", help="a draft as Markdown or plain text")
    export.add_argument("id", type=_draft_id, metavar="ID")
    export.add_argument(
        "--format",
        choices=("md", "txt"),
        help="md (with a # Title heading) or txt; default: from -o's extension, else md",
    )
    # str, not Path: Path() would drop a trailing "/" (the user meant a folder, not a file).
    export.add_argument("-o", "--output", metavar="FILE", help="write here, not stdout")
    export.add_argument("--revision", type=_draft_id, metavar="REV", help="export this revision")
    export.add_argument(
        "-f", "--force", action="store_true", help="overwrite FILE if it already exists"
    )
    export.add_argument(
        "--chats",
        action="store_true",
        help="the draft's chats with its characters (`writer chat`), as Markdown",
    )
    export.add_argument(
        "--pairs",
        action="store_true",
        help="the draft's preference pairs (`writer learn`), as JSON Lines",
    )
    imp = actions.add_parser("import", help="a UTF-8 text or Markdown file as a new draft")
    imp.add_argument("file", type=Path, metavar="FILE")
    delete = actions.add_parser("delete", help="delete a draft with its history")
    delete.add_argument("id", type=_draft_id, metavar="ID")
    history = actions.add_parser("history", help="a draft's revisions, newest first")
    history.add_argument("id", type=_draft_id, metavar="ID")
    restore = actions.add_parser("restore", help="make revision REV the draft's text")
    restore.add_argument("id", type=_draft_id, metavar="ID")
    restore.add_argument("revision", type=_draft_id, metavar="REV")


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _words(n: int) -> str:
    return f"{n:,} word" + ("" if n == 1 else "s")


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        raise UsageError(f"give an action: {', '.join(ACTIONS)} (see `writer drafts --help`)")
    from writer.store import DraftStore

    store = DraftStore.open(read_only_ok=args.action in READING_ACTIONS)
    try:
        if store.recovery_message:
            print(f"writer: warning: {store.recovery_message}", file=sys.stderr)
        return _ACTIONS[args.action](store, args)
    finally:
        store.close()


def _list(store, args: argparse.Namespace) -> int:
    drafts = store.list_drafts()
    if not drafts:
        print(
            "no drafts yet; `writer` starts one, `writer drafts import FILE` adds a file",
            file=sys.stderr,
        )
        return 0
    width = max(len(str(d.id)) for d in drafts)
    for d in drafts:
        where = f"  ({d.external_path})" if d.external_path else ""
        print(f"{d.id:>{width}}  {d.display_title}  {_words(d.words)}  {_when(d.updated)}{where}")
    return 0


def _show(store, args: argparse.Namespace) -> int:
    d = store.get_draft(args.id)
    print(f"draft {d.id}: {d.display_title}")
    print(f"words: {d.word_count:,}  created: {_when(d.created)}  edited: {_when(d.updated)}")
    settings = [f"preset: {d.preset or 'default'}", f"model: {d.model or 'default'}"]
    if d.overrides:
        settings.append("overrides: " + ", ".join(f"{k}={v}" for k, v in d.overrides.items()))
    print("  ".join(settings))
    if d.external_path:
        print(f"file: {d.external_path}")
    _show_context(store, d.id)
    chats = store.chats.for_draft(d.id)
    if chats:  # `writer chat --character NAME --draft ID` continues the first one listed
        turns = [f"{c.character} ({c.turn_count} turns, {_when(c.updated)})" for c in chats]
        print("chats: " + ", ".join(turns) + "  (export: --chats)")
    print()
    sys.stdout.write(d.text if d.text.endswith("\n") or not d.text else d.text + "\n")
    return 0


def _show_context(store, draft_id: int) -> None:
    """The story context under the details: memory and note in full, one line per entry."""
    from writer.store.rows import BadRowError

    try:
        context = store.context.load(draft_id)
    except BadRowError as exc:
        print(f"context: unreadable: {exc}")
        return
    if context.empty:
        return
    if context.memory.strip():
        print("memory: " + context.memory.rstrip("\n").replace("\n", "\n        "))
    if context.note.strip():
        print(f"author's note (depth {context.note_depth} lines): {context.note.strip()}")
    if context.lorebook:
        print(f"lorebook: {len(context.lorebook)} entries (scan depth {context.scan_depth} tokens)")
    for number, entry in enumerate(context.lorebook, 1):
        keys = "always" if entry.always else ", ".join(entry.keys)
        flags = (" regex" if entry.regex else "") + (
            f" priority {entry.priority}" if entry.priority else ""
        )
        text = " ".join(entry.text.split())
        print(f"  {number}. [{keys}]{flags}: {text[:70] + '…' if len(text) > 70 else text}")


def _export(store, args: argparse.Namespace) -> int:
    fmt = args.format
    if fmt is None:
        txt = args.output is not None and Path(args.output).suffix.lower() == ".txt"
        fmt = "txt" if txt else "md"
    if args.chats and (args.revision is not None or args.format == "txt"):
        raise UsageError("--chats exports Markdown of the chats; drop --revision and --format txt")
    if args.pairs and (args.revision is not None or args.format or args.chats):
        raise UsageError("--pairs exports JSON Lines; drop --revision, --format and --chats")
    if args.chats:
        content = store.chats.export(args.id)
    elif args.pairs:
        from writer.training.pairs import pairs_from_log, pairs_jsonl

        content = pairs_jsonl(pairs_from_log(store, [store.get_draft(args.id).id]))
    else:
        content = store.export_draft(args.id, fmt, revision_id=args.revision)
    if args.output is None:
        sys.stdout.write(content)
        return 0
    from writer.commands.output import open_output

    out = open_output(args.output, force=args.force, store_path=store.path)
    out.write(content)
    out.commit()
    print(f"exported draft {args.id} to {out.path}", file=sys.stderr)
    return 0


def _import(store, args: argparse.Namespace) -> int:
    d = store.import_file(args.file)
    print(f"{d.id}  {d.display_title}  {_words(d.word_count)}  imported from {args.file}")
    return 0


def _delete(store, args: argparse.Namespace) -> int:
    from writer.store.rows import BadRowError

    try:
        d = store.get_draft(args.id)
        what = f"{d.display_title} ({_words(d.word_count)})"
    except BadRowError:
        what = "its text was unreadable"  # deleting is one way to be rid of a bad row
    if not store.acquire_lock(args.id):
        raise WriterError(f"draft {args.id} is open in another writer window; close it there first")
    store.delete_draft(args.id)
    print(f"deleted draft {args.id}: {what}")
    return 0


def _history(store, args: argparse.Namespace) -> int:
    revisions = store.history(args.id)
    if not revisions:
        print(f"draft {args.id} has no earlier revisions yet", file=sys.stderr)
        return 0
    width = max(len(str(r.id)) for r in revisions)
    for r in revisions:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))
        print(f"{r.id:>{width}}  {stamp}  {r.reason:<14}  {_words(r.words)}  {r.preview}")
    return 0


def _restore(store, args: argparse.Namespace) -> int:
    if not store.acquire_lock(args.id):
        raise WriterError(
            f"draft {args.id} is open in another writer window; restore it from the app's "
            "history view, or close it there first"
        )
    before = store.get_draft(args.id)
    external, problem = None, ""
    if before.external_path:
        # A draft that belongs to a file: the file gets the restored text too, but only if it
        # still holds the draft's text (otherwise writing it would lose an outside edit).
        from writer.external import ExternalFile

        try:
            external = ExternalFile.open(before.external_path)
        except WriterError as exc:
            problem = str(exc)
        else:
            if external.exists and external.text != before.text:
                problem = "it was changed outside writer since writer last saved it"
    d = store.restore_revision(args.id, args.revision)
    print(f"restored draft {d.id} to revision {args.revision} ({_words(d.word_count)})")
    if not before.external_path:
        return 0
    if external is not None and not problem:
        try:
            external.save(d.text)
        except WriterError as exc:
            problem = str(exc)
        else:
            store.save_revision(d.id, d.text, "external-save")
            print(f"wrote {external.path}")
            return 0
    print(
        f"writer: warning: {before.external_path} was not written ({problem}); the restored "
        f"text is in the drafts store only; `writer {before.external_path}` shows both",
        file=sys.stderr,
    )
    return 1


_ACTIONS = {
    "list": _list,
    "show": _show,
    "export": _export,
    "import": _import,
    "delete": _delete,
    "history": _history,
    "restore": _restore,
}
