"""`writer stats [--draft ID] [--json]`: what the author did with the candidates, per model and
preset (requests, candidates shown, insert rate, inserted words still in the draft)."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "acceptance statistics from your own use: insert rate and kept words per model and preset"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer stats`."""
    p = subparsers.add_parser(
        "stats",
        help=HELP,
        description=HELP + ". Read from the generation log in the drafts database. The preset is "
        "the one whose parameters a request used ('custom' with overrides); kept words are "
        "inserted words still in the draft now, in runs of 3 or more.",
    )
    p.add_argument("--draft", type=int, metavar="ID", help="only this draft (default: all)")
    p.add_argument("--json", action="store_true", help='print {"rows": [...]} as JSON')
    return p


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON)."""
    from writer.store import DraftStore
    from writer.store.acceptance import usage_stats

    with DraftStore.open() as store:
        if args.draft is not None:
            store.get_draft(args.draft)  # an unknown ID is one line naming `writer drafts list`
        rows = usage_stats(store, args.draft)
    if args.json:
        print(json.dumps({"rows": [r.as_dict() for r in rows]}))
        return 0
    if not rows:
        where = f"draft {args.draft}" if args.draft is not None else "any draft"
        print(f"no generation requests logged for {where} yet; press ctrl+g in `writer`")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="your use of the candidates")
    table.add_column("model")
    table.add_column("preset")
    for column in ("requests", "candidates shown", "inserted", "insert rate", "words inserted"):
        table.add_column(column, justify="right")
    table.add_column("still in the draft", justify="right")
    for r in rows:
        table.add_row(
            r.model,
            r.preset,
            str(r.requests),
            str(r.candidates_shown),
            str(r.inserted),
            _pct(r.insert_rate),
            str(r.inserted_words),
            f"{r.kept_words} ({_pct(r.kept_rate)})",
        )
    Console(width=max(110, Console().width)).print(table)
    return 0
