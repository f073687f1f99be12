"""Recall on a long manuscript: does an entity introduced once, early, come back when the last
paragraph mentions it, and how long do building and searching the index take.

A seeded manuscript of `--paragraphs` paragraphs (default 4,000, about 1 MB) of pseudo-English
from word lists, with a cast of recurring characters mentioned all along (common names, as a
novel has), and `--entities` planted facts ("Mirela Vask, the lighthouse keeper of Ostrava
Point, ...") each introduced exactly once, somewhere before the last tenth. For each planted
entity the story gets one last paragraph that mentions it (its name in an ordinary sentence),
and recall runs with the window's start 4,000 characters (about 1,000 tokens) before the end
and a cap of `--cap` tokens (estimated, 4 characters a token). Reported:

- **recall@cap**: the share of entities whose introduction is among the recalled passages
  (target >= 90 %);
- **lookup ms**: what one request pays: a fresh Recaller (for an in-memory index: bringing it
  up to the grown text; then terms, frequencies, search, placing the pieces), the median and
  the worst, for the in-memory FTS5 index, the Python BM25 one, and the drafts database's
  index (writer.store.recall) in a temporary folder (target <= 20 ms on 1 MB);
- **build ms**: indexing the whole manuscript from nothing (in memory: what a CLI pays per
  file); for the store's index also **re-sync ms**, its update after one paragraph is added;
- **save ms**: the autosave of the 1 MB draft after one new paragraph, with the index updated
  in its transaction and without (what recall adds to a save);
- **app request ms**: what recall adds to one of the app's requests: a TailRecaller over the
  editor's lines (joined on the worker) and the draft's index in the store, when the query's
  words change (a new sentence: the median and the worst) and while typing inside a sentence.

    python -m bench.recall                  # about 1 MB, 100 entities
    python -m bench.recall --paragraphs 300 --entities 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from writer.engine.story.pieces import layout
from writer.engine.story.recall import Recaller
from writer.engine.story.recallindex import MemoryIndex, PythonIndex, SyncedIndex

WINDOW_CHARS = 4000
FILLER = """the and a of to in was he she it that his her with as on for at by from they had
not but were an said one all there when so this into out up would could like then them some
what over back only down time more little about old long night day hand eyes door house room
water light road morning evening wind rain sea river field stone wall window table bread fire
looked walked turned stood came went took made knew thought felt heard saw told asked left
again still away through under before after while without never always almost quietly slowly
cold warm dark bright small heavy empty quiet late early far near open closed last first
letter coat boots lamp chair bed bell cart horse boat net rope path gate bridge hill tree
""".split()
CAST = ["Anna", "Peter", "Marta", "Jon", "Elena", "Karl", "the captain", "the doctor"]
SYLLABLES = "ka lo mi ra ve sto an dre li vo ze nu ba tor el sa ri ko pa ven mar is ol ur".split()
ROLES = "lighthouse keeper|clockmaker|ferryman|archivist|glassblower|beekeeper|cartographer".split(
    "|"
)
THINGS = "brass telescope|green umbrella|silver whistle|cedar box|copper kettle|blue ledger".split(
    "|"
)


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        first = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        last = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
        if first not in used and last not in used:
            used.update((first, last))
            return f"{first} {last}"


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(8, 18))]
    if rng.random() < 0.5:
        words.insert(rng.randrange(len(words)), rng.choice(CAST))
    return " ".join(words).capitalize() + "."


def manuscript(paragraphs: int, entities: int, seed: int = 7) -> tuple[str, list[dict[str, Any]]]:
    """The text and its planted entities: name, place, and where the introduction starts."""
    rng = random.Random(seed)
    used: set[str] = set()
    slots = rng.sample(range(paragraphs * 9 // 10), entities)
    planted: dict[int, dict[str, Any]] = {}
    for slot in slots:
        name, place = _name(rng, used), _name(rng, used).split()[0] + " Point"
        intro = (
            f"{name}, the {rng.choice(ROLES)} of {place}, kept a {rng.choice(THINGS)} "
            "wrapped in oilcloth."
        )
        planted[slot] = {"name": name, "place": place, "intro": intro}
    parts = []
    at = 0
    for i in range(paragraphs):
        sentences = [_sentence(rng) for _ in range(rng.randint(2, 5))]
        if i in planted:
            sentences.insert(rng.randrange(len(sentences) + 1), planted[i]["intro"])
            planted[i]["start"] = at + sum(
                len(s) + 1 for s in sentences[: sentences.index(planted[i]["intro"])]
            )
        paragraph = " ".join(sentences)
        parts.append(paragraph)
        at += len(paragraph) + 2
    return "\n\n".join(parts) + "\n\n", [planted[s] for s in sorted(planted)]


def _last_paragraph(rng: random.Random, name: str) -> str:
    return f"{_sentence(rng)} Nobody had seen {name} since the spring. {_sentence(rng)}\n"


def _measure(index: Any, base: str, entities: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    """Per entity: the story grows by one last paragraph; an index someone else keeps (the
    store's) is updated first, as on a save ("re-sync"); then a fresh Recaller recalls, with
    no cached paragraph layout, so "lookup" is what one request pays (for an in-memory index
    that includes bringing it up to the new text)."""
    rng = random.Random(1)
    found, lookups, resyncs = 0, [], []
    for entity in entities:
        text = base + _last_paragraph(rng, entity["name"])
        if hasattr(index, "update_text"):
            t0 = time.perf_counter()
            index.update_text(text)
            resyncs.append((time.perf_counter() - t0) * 1000)
        layout.cache_clear()
        t0 = time.perf_counter()
        passages = Recaller(index).recall(text, len(text) - WINDOW_CHARS, cap)
        lookups.append((time.perf_counter() - t0) * 1000)
        found += any(entity["intro"] in p.text for p in passages)
    return {
        "recall_at_cap": found / len(entities),
        "lookup_ms_median": statistics.median(lookups),
        "lookup_ms_max": max(lookups),
        "resync_ms_median": statistics.median(resyncs) if resyncs else None,
    }


def _timed_build(factory: type[SyncedIndex], text: str) -> tuple[SyncedIndex, float]:
    t0 = time.perf_counter()
    index = factory()
    index.sync(text)
    return index, (time.perf_counter() - t0) * 1000


class _StoreIndex:
    """The drafts database's index on a temporary store, as a Recaller sees it."""

    def __init__(self, folder: Path) -> None:
        from writer.config import Config
        from writer.store import DraftStore
        from writer.store.recall import RecallIndex

        self.store = DraftStore.open(folder / "writer.db", config=Config())
        self.draft = self.store.create_draft("bench", "")
        self.recall: RecallIndex = self.store.recall
        self.pieces = self.recall.draft(self.draft.id)

    def save(self, text: str) -> None:
        """The autosave (`DraftStore.save_text`), which updates the index with the text."""
        self.store.save_text(self.draft.id, text)

    def update_text(self, text: str) -> None:
        self.recall.update(self.draft.id, text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pieces, name)


def _app(store_index: _StoreIndex, base: str, entities: list[dict[str, Any]]) -> dict[str, Any]:
    """Saves with and without the index, then the app's requests (see the module docstring)."""
    from writer.engine.story.recall import TailRecaller

    rng = random.Random(2)
    text = base
    saves: dict[str, list[float]] = {"with": [], "without": []}
    for round_ in range(10):
        way = "with" if round_ % 2 else "without"
        store_index.recall.unavailable = None if way == "with" else "measured without"
        text += _sentence(rng) + "\n"
        layout.cache_clear()
        t0 = time.perf_counter()
        store_index.save(text)
        saves[way].append((time.perf_counter() - t0) * 1000)
    store_index.recall.unavailable = None
    store_index.save(text)
    recaller = Recaller(store_index.recall.draft(store_index.draft.id))
    sentence, typing, found = [], [], 0
    for entity in entities[:20]:
        # A new sentence naming an entity (a new query), then typing inside the next one.
        text += _last_paragraph(rng, entity["name"]).rstrip("\n") + " "
        window = len(text) - WINDOW_CHARS  # the window's start stays put while typing
        for word in ("She", "said", "nothing", "more"):
            text += word + " "
            lines = text.split("\n")
            tail = text[-16_000:]  # what the app sends the engine
            t0 = time.perf_counter()
            passages = TailRecaller(recaller, lines).candidates(
                tail, window - (len(text) - len(tail))
            )
            (typing if word != "She" else sentence).append((time.perf_counter() - t0) * 1000)
            found += word == "She" and any(entity["intro"] in p.text for p in passages)
        text += "\n"
    return {
        "save_ms_with_index": statistics.median(saves["with"]),
        "save_ms_without_index": statistics.median(saves["without"]),
        "app_request_ms_new_sentence": statistics.median(sentence),
        "app_request_ms_new_sentence_max": max(sentence),
        "app_request_ms_typing": statistics.median(typing),
        "app_found": found / len(sentence),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.recall", description=__doc__)
    parser.add_argument("--paragraphs", type=int, default=4000)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--cap", type=int, default=128, help="recall cap in tokens (default 128)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    base, entities = manuscript(args.paragraphs, args.entities)
    results: dict[str, Any] = {"chars": len(base), "entities": len(entities), "cap": args.cap}
    for label, factory in (("fts5", MemoryIndex), ("python", PythonIndex)):
        index, build = _timed_build(factory, base)
        results[label] = {"build_ms": build, **_measure(index, base, entities, args.cap)}
    with tempfile.TemporaryDirectory(prefix="writer-bench-recall-") as folder:
        store_index = _StoreIndex(Path(folder))
        t0 = time.perf_counter()
        store_index.update_text(base)
        build = (time.perf_counter() - t0) * 1000
        measured = _measure(store_index, base, entities, args.cap)
        results["store"] = {"build_ms": build, **measured, **_app(store_index, base, entities)}
        store_index.store.close()
    print(f"manuscript: {len(base):,} characters, {len(entities)} planted entities, cap {args.cap}")
    for label in ("fts5", "python", "store"):
        r = results[label]
        resync = f", re-sync {r['resync_ms_median']:.1f} ms" if r["resync_ms_median"] else ""
        print(
            f"{label:>7}: recall@cap {r['recall_at_cap']:.0%}, lookup median "
            f"{r['lookup_ms_median']:.1f} ms (max {r['lookup_ms_max']:.1f}), "
            f"build {r['build_ms']:.0f} ms{resync}"
        )
    r = results["store"]
    print(
        f"  saves: {r['save_ms_with_index']:.0f} ms with the index, "
        f"{r['save_ms_without_index']:.0f} ms without; app requests: "
        f"{r['app_request_ms_new_sentence']:.1f} ms at a new sentence (max "
        f"{r['app_request_ms_new_sentence_max']:.1f}), {r['app_request_ms_typing']:.2f} ms "
        f"while typing in one; introduction recalled {r['app_found']:.0%}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
