"""`writer lore suggest FILE_OR_DRAFT [--min-mentions N] [--json]`: the names a manuscript keeps
coming back to, as lorebook entries ready to paste (engine/story/lore.py finds them)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from writer.errors import UsageError, WriterError

HELP = "suggest lorebook entries: the names a text or draft keeps mentioning"


def _mentions(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number, 1 or more; got {value!r}"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more; got {number}")
    return number


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer lore`."""
    p = subparsers.add_parser("lore", help=HELP, description=HELP + ".")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    suggest = actions.add_parser(
        "suggest",
        help="recurring names with their mention count and the sentence that introduces them",
        description="Print recurring names (capitalised words that do not start a sentence, and "
        "multi-word names) as lorebook [[entry]] blocks in TOML, most mentioned first; each "
        "entry's text is the sentence that introduces the name, for you to edit.",
    )
    suggest.add_argument(
        "source", metavar="FILE_OR_DRAFT", help="a UTF-8 text file, or a draft's ID or title"
    )
    suggest.add_argument(
        "--min-mentions",
        type=_mentions,
        default=2,
        metavar="N",
        help="only names mentioned at least N times (default 2)",
    )
    suggest.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {name, keys, mentions, introduced, start}",
    )
    return p


def read_source(source: str) -> str:
    """The text of a file path, else of the draft with that ID or title (one line otherwise)."""
    path = Path(source).expanduser()
    if path.exists():
        from writer.textfiles import read_text_file

        return read_text_file(path, purpose="suggest lore from")
    from writer.store import DraftStore

    store = DraftStore.open(read_only_ok=True)
    try:
        if source.strip().isdigit():
            return store.get_draft(int(source.strip())).text
        wanted = " ".join(source.split()).casefold()
        matches = [d for d in store.list_drafts() if d.display_title.casefold() == wanted]
        if not matches:
            raise WriterError(
                f"{source!r} is neither a file nor a draft's ID or title; see `writer drafts list`"
            )
        if len(matches) > 1:
            ids = ", ".join(str(d.id) for d in matches)
            raise WriterError(f"several drafts are titled {source!r} (IDs {ids}); give the ID")
        return store.get_draft(matches[0].id).text
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    """Print the suggestions as TOML (or JSON)."""
    if args.action != "suggest":
        raise UsageError("give an action: suggest (see `writer lore --help`)")
    from writer.engine.story.lore import lorebook_toml, suggest_lore

    suggestions = suggest_lore(read_source(args.source), min_mentions=args.min_mentions)
    if args.json:
        print(json.dumps([s.to_dict() for s in suggestions], ensure_ascii=False, indent=2))
        return 0
    if not suggestions:
        print(
            f"no name is mentioned {args.min_mentions} times or more; try --min-mentions 1",
            file=sys.stderr,
        )
        return 0
    sys.stdout.write(lorebook_toml(suggestions))
    return 0
