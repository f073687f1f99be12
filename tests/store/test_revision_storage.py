"""Revisions that scale: deltas against compressed bases, restored byte-exact,
migrated from plain rows, pruned without orphans, and salvaged from a damaged file."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writer.config import Config
from writer.engine.story.context import LoreEntry, StoryContext
from writer.store import DraftStore, db, revstore, salvage
from writer.store.deltas import apply_delta, compress_text, make_delta
from writer.store.models import word_count
from writer.store.revstore import KEEP_PLAIN_BELOW
from writer.store.rows import preview
from writer.store.sqlitefile import leaf_rows

PAGE = 4096
WORDS = "the a old night river stone she he said walked and slowly ran é — 雪 🐉".split()


def _prose(rng: random.Random, chars: int) -> str:
    out, n = [], 0
    while n < chars:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60)))
        line += rng.choice([".\n", ".\n\n", ", ", "\r\n", "! "])
        out.append(line)
        n += len(line)
    return "".join(out)


def _edit(rng: random.Random, text: str) -> str:
    """One burst of what an author does between two revisions."""
    kind = rng.random()
    pos = rng.randint(0, len(text))
    if kind < 0.5:  # typing somewhere (mostly at the end)
        pos = len(text) if rng.random() < 0.6 else pos
        return text[:pos] + _prose(rng, rng.randint(1, 300)) + text[pos:]
    if kind < 0.7:  # deleting a stretch
        return text[:pos] + text[pos + rng.randint(1, 2000) :]
    if kind < 0.85:  # several small edits all over
        for _ in range(rng.randint(2, 20)):
            p = rng.randint(0, len(text))
            text = text[:p] + rng.choice(WORDS) + text[p + rng.randint(0, 8) :]
        return text
    if kind < 0.95:  # moving a paragraph
        a, b = sorted(rng.randint(0, len(text)) for _ in range(2))
        chunk, rest = text[a:b], text[:a] + text[b:]
        p = rng.randint(0, len(rest))
        return rest[:p] + chunk + rest[p:]
    return _prose(rng, rng.randint(0, 40_000))  # select all, paste something else


def _ids(store: DraftStore, draft_id: int) -> list[int]:
    return [r.id for r in store.history(draft_id)]


def _store(path: Path, keep: int = 100_000) -> DraftStore:
    return DraftStore.open(path, config=Config(revisions_keep=keep))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000), st.text(max_size=3000), st.integers(0, 3000), st.integers(0, 9))
def test_a_delta_rebuilds_any_text_exactly(base, text, cut, lines) -> None:
    base = base + "\n".join(["line"] * lines) * 300
    text = base[:cut] + text + base[cut + 7 :]
    assert apply_delta(base, make_delta(base, text)) == text
    assert apply_delta(text, make_delta(text, base)) == base


@given(st.text(alphabet=" \n\tab…é", max_size=2000))
def test_the_stored_preview_is_the_flattened_end_of_the_text(text) -> None:
    flat = " ".join(text.split())  # what the preview was before it read only the tail
    assert preview(text) == (flat if len(flat) <= 60 else "…" + flat[-59:])


def test_every_revision_of_many_random_edits_restores_byte_exact(tmp_path) -> None:
    rng = random.Random(10)
    text = _prose(rng, 60_000)
    expected: dict[int, str] = {}
    with _store(tmp_path / "w.db") as store:
        draft = store.create_draft("Big", text)
        for _ in range(150):
            text = _edit(rng, text)
            expected[store.save_revision(draft.id, text, "insert")] = text
        stored = (
            store.core.conn.execute(
                "SELECT sum(length(text)) + sum(coalesce(length(delta), 0)) FROM revisions"
            ).fetchone()[0]
            + store.core.conn.execute(
                "SELECT coalesce(sum(length(data)), 0) FROM revision_bases"
            ).fetchone()[0]
        )
        history = {r.id: r.text for r in map(store.get_revision, _ids(store, draft.id))}
        for rid, want in expected.items():
            assert history[rid] == want
            assert store.get_revision(rid).text == want
            assert store.restore_revision(draft.id, rid).text == want
    # Whole texts would take 150 drafts' worth; bases + deltas a few (this history includes
    # whole-draft rewrites, each a new base).
    total = sum(len(t.encode()) for t in expected.values())
    assert stored < total / 8


def test_pruning_drops_bases_no_revision_uses_and_keeps_the_rest_exact(tmp_path) -> None:
    rng = random.Random(3)
    text = _prose(rng, 30_000)
    expected: dict[int, str] = {}
    with _store(tmp_path / "w.db", keep=8) as store:
        draft = store.create_draft("Pruned", text)
        expected[store.history(draft.id)[0].id] = text  # "create": explicit, never pruned
        for i in range(120):
            text = _edit(rng, text) if i % 10 else _prose(rng, 30_000)  # forces new bases
            expected[store.save_revision(draft.id, text, "auto")] = text
        history = store.history(draft.id)
        assert len(history) == 8
        assert all(store.get_revision(r.id).text == expected[r.id] for r in history)
        conn = store.core.conn
        used = {r[0] for r in conn.execute("SELECT DISTINCT base_id FROM revisions")} - {None}
        bases = {r[0] for r in conn.execute("SELECT id FROM revision_bases")}
        assert bases == used and len(bases) <= 8
        store.delete_draft(draft.id)
        assert conn.execute("SELECT count(*) FROM revision_bases").fetchone()[0] == 0


def test_small_texts_stay_plain_rows(tmp_path) -> None:
    with _store(tmp_path / "w.db") as store:
        draft = store.create_draft("Small", "Once upon a time.")
        rid = store.save_revision(draft.id, "Once upon a time, twice.", "insert")
        row = store.core.conn.execute(
            "SELECT text, base_id, delta FROM revisions WHERE id = ?", (rid,)
        ).fetchone()
    assert row == ("Once upon a time, twice.", None, None)


def _database_at(path: Path, version: int, title: str, text: str) -> sqlite3.Connection:
    """A database built by the first `version` migrations, holding draft 1 with `text`."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in db.MIGRATIONS[:version]:
        for statement in migration:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO drafts (id, title, text, created, updated) VALUES (1, ?, ?, 1, 2)",
        (title, text),
    )
    return conn


def _schema_4_database(path: Path, texts: list[str]) -> None:
    """A database as writer wrote it before migration 5: whole texts in `revisions`."""
    conn = _database_at(path, 4, "Old", texts[-1])
    for i, text in enumerate(texts, 1):
        conn.execute(
            "INSERT INTO revisions (id, draft_id, text, created, reason) VALUES (?, 1, ?, ?, ?)",
            (i, text, float(i), "auto" if i % 2 else "insert"),
        )
    conn.close()


def test_migration_packs_old_rows_and_keeps_ids_times_reasons_and_texts(tmp_path) -> None:
    rng = random.Random(5)
    texts = [_prose(rng, 50_000)]
    for _ in range(30):
        texts.append(_edit(rng, texts[-1]))
    texts.append("a short one")
    path = tmp_path / "w.db"
    _schema_4_database(path, texts)
    before = path.stat().st_size
    with _store(path) as store:
        history = sorted(map(store.get_revision, _ids(store, 1)), key=lambda r: r.id)
        assert [r.text for r in history] == texts
        assert [r.created for r in history] == [float(i) for i in range(1, len(texts) + 1)]
        assert [r.reason for r in history][:2] == ["auto", "insert"]
        version = store.core.conn.execute("PRAGMA user_version").fetchone()[0]
        plain = store.core.conn.execute("SELECT count(*) FROM revisions WHERE base_id IS NULL")
        assert version == db.SCHEMA_VERSION and plain.fetchone()[0] == 1  # the short one
        unsummarised = "SELECT count(*) FROM revisions WHERE words IS NULL OR preview IS NULL"
        assert store.core.conn.execute(unsummarised).fetchone()[0] == 0
        listed = sorted(store.history(1), key=lambda r: r.id)
        assert [(r.words, r.preview) for r in listed] == [
            (word_count(t), preview(t)) for t in texts
        ]
    assert path.stat().st_size < before / 4  # VACUUM gave the space back


def _counting_rebuilds(monkeypatch) -> list[str]:
    """Every decompression of a base and application of a delta the store makes from now on."""
    calls: list[str] = []
    for name in ("apply_delta", "decompress_text"):
        real = getattr(revstore, name)

        def counted(*args, _real=real, _name=name):
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(revstore, name, counted)
    return calls


def test_history_of_many_large_revisions_rebuilds_no_text(tmp_path, monkeypatch) -> None:
    rng = random.Random(12)
    text = _prose(rng, 200_000)
    path = tmp_path / "w.db"
    expected: dict[int, str] = {}
    with _store(path) as store:
        draft = store.create_draft("Long", text)
        expected[_ids(store, draft.id)[0]] = text
        for i in range(80):
            text = _edit(rng, text) if i % 4 == 0 else text + _prose(rng, 400)
            expected[store.save_revision(draft.id, text, "insert")] = text
    calls = _counting_rebuilds(monkeypatch)
    with _store(path) as store:  # a fresh store: no base is cached
        history = store.history(draft.id)
        assert calls == []
        assert [r.id for r in history] == sorted(expected, reverse=True)
        assert all(r.text is None for r in history)
        for r in history:
            assert (r.words, r.preview) == (word_count(expected[r.id]), preview(expected[r.id]))
        oldest = min(expected)
        assert store.get_revision(oldest).text == expected[oldest]  # loaded when asked for
        assert calls


def test_a_database_an_unreleased_build_took_to_schema_6_gets_summaries(tmp_path) -> None:
    """Migration 5 once packed rows without words and previews: migration 7 fills them."""
    rng = random.Random(6)
    base = _prose(rng, 12_000)
    texts = [base, base + " and then the river rose.", "a short one"]
    path = tmp_path / "w.db"
    conn = _database_at(path, 6, "D", texts[-1])
    conn.execute(
        "INSERT INTO revision_bases (id, draft_id, data) VALUES (1, 1, ?)", (compress_text(base),)
    )
    for i, text in enumerate(texts[:2], 1):
        conn.execute(
            "INSERT INTO revisions (id, draft_id, text, created, reason, base_id, delta) "
            "VALUES (?, 1, '', ?, 'insert', 1, ?)",
            (i, float(i), make_delta(base, text)),
        )
    conn.execute(
        "INSERT INTO revisions (id, draft_id, text, created, reason) VALUES (3, 1, ?, 3.0, 'auto')",
        (texts[2],),
    )
    conn.close()
    with _store(path) as store:
        assert store.core.conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        listed = sorted(store.history(1), key=lambda r: r.id)
        assert [(r.words, r.preview) for r in listed] == [
            (word_count(t), preview(t)) for t in texts
        ]
        assert [store.get_revision(r.id).text for r in listed] == texts


def _damaged_at(path: Path, table_row: tuple[int, str]) -> None:
    """Zero the leaf page that holds the row whose first values are `table_row`."""
    data = bytearray(path.read_bytes())
    pages = {r.page for r in leaf_rows(bytes(data)) if tuple(r.values[1:3]) == table_row}
    for page in pages:
        data[(page - 1) * PAGE : page * PAGE] = bytes(PAGE)
    path.write_bytes(bytes(data))


def test_salvage_rebuilds_delta_revisions_and_story_contexts(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(salvage.shutil, "which", lambda name: None)  # CI has no sqlite3 shell
    rng = random.Random(8)
    path = tmp_path / "w.db"
    context = StoryContext(
        memory="Mara is a ferrywoman.",
        note="Keep it quiet.",
        lorebook=(LoreEntry(keys=("river",), text="The river floods in spring."),),
    )
    expected: dict[int, str] = {}
    with _store(path) as store:
        draft = store.create_draft("Kept", _prose(rng, 20_000))
        text = draft.text
        expected[store.history(draft.id)[0].id] = text
        for _ in range(12):
            text = _edit(rng, text)
            expected[store.save_revision(draft.id, text, "insert")] = text
        store.context.save(draft.id, context)
        store.create_draft("Victim", "x" * 10)
    assert len(text) >= KEEP_PLAIN_BELOW
    _damaged_at(path, ("Victim", "x" * 10))  # the damage is elsewhere; drafts share that page
    with _store(path) as store:
        assert store.recovered is not None
        assert "story context(s)" in store.recovery_message
        assert store.context.load(1) == context
        history = {
            r.id: store.get_revision(r.id).text for r in store.history(1) if r.reason != "recovered"
        }
        assert history == expected


FULL_DISK = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
sys.argv = ["writer", *sys.argv[1:]]
runpy.run_module("writer", run_name="__main__")
"""


def test_an_old_database_that_cannot_be_migrated_is_still_read(isolated_user_dirs) -> None:
    """A full disk: migration 5 cannot run, so the schema-4 rows are read as they are."""
    import subprocess
    import sys

    texts = ["first version " * 400, "second version " * 400]
    path = Path(isolated_user_dirs["XDG_DATA_HOME"]) / "writer" / "writer.db"
    path.parent.mkdir(parents=True)
    _schema_4_database(path, texts)
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, "drafts", "export", "1", "--revision", "1"],
        env=isolated_user_dirs,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert texts[0] in done.stdout and "read-only" in done.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4  # untouched
