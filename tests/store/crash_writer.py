"""A process that writes through the store (or an ExternalFile) in a loop, for kill -9 tests.

    python tests/store/crash_writer.py store DB_PATH
    python tests/store/crash_writer.py external FILE_PATH

Version N of the text is the words w0 .. w(N-1), so any text names the version it is. Each run
continues from what is stored (the parent kills it many times over the same file) and prints
"ready", then the version number after every save returns: a printed version is one the store
has acknowledged, so after the kill the stored version must be at least the last one printed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def version_text(n: int) -> str:
    return " ".join(f"w{k}" for k in range(n))


def run_store(db_path: Path) -> None:
    from writer.config import Config
    from writer.store import DraftStore

    # A 1 s interval and a small retention so revisions and pruning happen under the kills too.
    store = DraftStore.open(db_path, config=Config(revision_interval=1, revisions_keep=5))
    draft = store.last_draft() or store.create_draft("crash")
    n = draft.word_count
    print("ready", flush=True)
    while True:
        n += 1
        text = version_text(n)
        if n % 7 == 0:  # as the app does when a candidate is inserted
            cands = [{"text": f" w{n - 1}", "tokens": 1, "logprob": -1.0, "seed": n}]
            gen = store.generations.log(draft.id, "continue", {"temperature": 1.0}, n, "x", cands)
            store.generations.mark_inserted(gen, 0, text)
        else:
            store.save_text(draft.id, text, cursor=(0, n))
        if n % 5 == 0:  # the story context: memory and a lorebook entry, written together
            from writer.engine.story.context import LoreEntry, StoryContext

            entry = LoreEntry(keys=("w1",), text=text)
            store.context.save(draft.id, StoryContext(memory=text, lorebook=(entry,)))
        print(n, flush=True)


def run_external(path: Path) -> None:
    from writer.external import ExternalFile

    file = ExternalFile.open(path)
    n = len(file.text.split())
    print("ready", flush=True)
    while True:
        n += 1
        file.save(version_text(n))
        print(n, flush=True)


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    {"store": run_store, "external": run_external}[mode](target)
