"""How big the drafts database grows: an hour of editing a 1 MB draft.

The store is driven as the app drives it, on a simulated clock (so an hour takes as long as the
saves themselves, not an hour): bursts of typing at ~40 words a minute, mostly at the end and
sometimes in the middle, with pauses between them; an autosave (`DraftStore.save_text`) at the
latest 1.5 s after the first unsaved keystroke and when typing pauses (writer.ui.writing.session's
MAX_UNSAVED_S and autosave interval); now and then a candidate inserted (`save_revision`
"insert") and a paragraph deleted (which forces a revision). The store's own coalescing
(revision_interval, 60 s by default) decides when an "auto" revision is kept, as in the app.

Printed: the text's size, the database's size (file + -wal, and after a checkpoint), how many
revisions and bases it holds, and what those revisions would take stored as whole texts (as
writer stored them before migration 5).

    python -m bench.store_size                  # 1 MB draft, 60 minutes
    python -m bench.store_size --quick          # 100 KB, 5 minutes: checks the harness works
    python -m bench.store_size --size 5000000 --minutes 120 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.manuscript import WORDS, manuscript

AUTOSAVE_MAX_S = 1.5  # writer.ui.writing.session.MAX_UNSAVED_S
WORDS_PER_MINUTE = 40


class Clock:
    """The simulated time the store stamps its rows with."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def simulate(size: int, minutes: float, folder: Path, seed: int = 0) -> dict[str, Any]:
    """Edit a `size`-character draft for `minutes` of simulated time; the database's figures."""
    from writer.config import Config
    from writer.store import DraftStore

    rng = random.Random(seed)
    clock = Clock()
    path = folder / "writer.db"
    text = manuscript(size, seed)
    end = clock.now + minutes * 60
    saves = inserts = deletions = 0
    with DraftStore.open(path, config=Config(), clock=clock) as store:
        draft = store.create_draft("An hour of work", text)
        while clock.now < end:
            # One burst of typing: 10-90 s, at the end of the text or (one in five) mid-text.
            burst_end = clock.now + rng.uniform(10, 90)
            at = len(text) if rng.random() < 0.8 else rng.randrange(len(text))
            since_save = 0.0
            while clock.now < min(burst_end, end):
                word = rng.choice(WORDS) + (". " if rng.random() < 0.08 else " ")
                text = text[:at] + word + text[at:]
                at += len(word)
                step = 60 / WORDS_PER_MINUTE
                clock.now += step
                since_save += step
                if since_save >= AUTOSAVE_MAX_S:
                    store.save_text(draft.id, text)
                    saves += 1
                    since_save = 0.0
            store.save_text(draft.id, text)  # the pause after the burst
            saves += 1
            roll = rng.random()
            if roll < 0.25:  # a candidate inserted at the end
                text += " " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 40)))
                store.save_revision(draft.id, text, "insert")
                inserts += 1
            elif roll < 0.30:  # a paragraph cut
                cut = rng.randrange(len(text))
                text = text[:cut] + text[cut + rng.randint(200, 2000) :]
                store.save_text(draft.id, text)
                deletions += 1
            clock.now += rng.uniform(3, 60)  # thinking
        conn = store.core.conn
        revisions = conn.execute("SELECT count(*) FROM revisions").fetchone()[0]
        bases = conn.execute("SELECT count(*) FROM revision_bases").fetchone()[0]
        whole = sum(len(store.get_revision(r.id).text.encode()) for r in store.history(draft.id))
        live = _size(path) + _size(Path(f"{path}-wal"))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpointed = _size(path) + _size(Path(f"{path}-wal"))
    text_bytes = len(text.encode())
    return {
        "text_bytes": text_bytes,
        "minutes": minutes,
        "saves": saves,
        "inserts": inserts,
        "deletions": deletions,
        "revisions": revisions,
        "bases": bases,
        "db_bytes_live": live,
        "db_bytes": checkpointed,
        "ratio": round(checkpointed / text_bytes, 2),
        "whole_text_revisions_bytes": whole,
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_size", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="draft size in characters")
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated editing time")
    parser.add_argument("--quick", action="store_true", help="100 KB for 5 minutes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.minutes = 100_000, 5.0
    if args.size < 1000 or args.minutes <= 0:
        parser.error("--size must be at least 1000 and --minutes above 0")
    with tempfile.TemporaryDirectory(prefix="writer-store-size-") as folder:
        result = simulate(args.size, args.minutes, Path(folder), args.seed)
    print(
        f"text {_mb(result['text_bytes'])}, {result['minutes']:g} min: {result['saves']} "
        f"autosaves, {result['inserts']} inserts, {result['deletions']} cuts"
    )
    print(
        f"database {_mb(result['db_bytes'])} ({result['ratio']}x the text; "
        f"{_mb(result['db_bytes_live'])} with its -wal before a checkpoint), "
        f"{result['revisions']} revisions on {result['bases']} bases; as whole texts they "
        f"would take {_mb(result['whole_text_revisions_bytes'])}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
