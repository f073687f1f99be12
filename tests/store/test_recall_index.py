"""The recall index in the drafts database: built by migration, updated paragraph by paragraph,
searched per draft, forgotten with a draft, and invisible to salvage."""

from __future__ import annotations

import sqlite3

import pytest

from writer.config import Config
from writer.engine.story.recall import Recaller
from writer.store import DraftStore, salvage
from writer.store.db import SCHEMA_VERSION
from writer.store.recall import TABLE, RecallIndex
from writer.store.salvagerows import classify
from writer.store.sqlitefile import database_image, leaf_rows

PLANTED = "Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope."


def story(n: int = 80) -> str:
    filler = [
        f"Paragraph {i}: the rain came down on the old road and the market opened early."
        for i in range(n)
    ]
    filler.insert(2, PLANTED)
    filler.append("Someone asked where Mirela Vask had gone.")
    return "\n\n".join(filler) + "\n"


@pytest.fixture
def store(tmp_path):
    with DraftStore.open(tmp_path / "writer.db", config=Config()) as s:
        yield s


def _conn(store) -> sqlite3.Connection:
    return store.core.conn  # the store hands its connection to the index (wired in the store later)


def test_migration_creates_the_table_and_an_update_indexes_only_new_paragraphs(store):
    conn = _conn(store)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    index = RecallIndex(conn)
    draft = store.create_draft("Tale", "")
    assert index.update(draft.id, story()) == 82
    assert index.update(draft.id, story()) == 0
    edited = story().replace("Paragraph 40:", "Paragraph forty:")
    assert index.update(draft.id, edited) == 1
    rows = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    assert rows == 82


def test_search_finds_a_drafts_early_fact_and_only_that_drafts(store):
    index = RecallIndex(_conn(store))
    text = story()
    a = store.create_draft("A", text)
    b = store.create_draft("B", "Mirela Vask appears in another book entirely.\n")
    index.update(a.id, text)
    index.update(b.id, "Mirela Vask appears in another book entirely.\n")
    found = Recaller(index.draft(a.id)).recall(text, len(text) - 200, 100)
    assert found and found[0].text == PLANTED and found[0].start == text.index(PLANTED)
    assert all("another book" not in p.text for p in found)
    index.forget(a.id)
    assert Recaller(index.draft(a.id)).recall(text, len(text) - 200, 100) == []
    assert index.draft(b.id).search(["mirela"], 5)


def test_an_update_inside_the_callers_transaction_rolls_back_with_it(store):
    conn = _conn(store)
    index = RecallIndex(conn)
    draft = store.create_draft("Tale", "")
    conn.execute("BEGIN IMMEDIATE")
    index.update(draft.id, story())
    conn.execute("ROLLBACK")
    assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 0


def _salvage_view(path, with_index: bool):
    with DraftStore.open(path, config=Config()) as store:
        if not with_index:
            store.recall.unavailable = "off"  # the store's own saves index nothing
        text = story(300)
        draft = store.create_draft("Tale", text)
        if with_index:
            RecallIndex(store.core.conn).update(draft.id, text)
        store.save_text(draft.id, text + "More.\n")
        if with_index:
            RecallIndex(store.core.conn).update(draft.id, text + "More.\n")
    rows = set()
    for row in leaf_rows(database_image(path)):
        hit = classify(row.rowid, row.values, row.complete)
        if hit is not None:
            rows.add((hit[0], row.rowid))
    found = salvage.salvage(path)
    return rows, found


def test_salvage_reads_no_index_row_as_one_of_writers_rows(tmp_path):
    plain_rows, plain = _salvage_view(tmp_path / "plain.db", with_index=False)
    rows, found = _salvage_view(tmp_path / "indexed.db", with_index=True)
    assert rows == plain_rows
    assert set(found.drafts) == set(plain.drafts) and set(found.revisions) == set(plain.revisions)
    assert found.fragments == [] and found.generations == {} and found.contexts == {}


def test_without_fts5_the_store_index_is_off_with_a_reason(store, monkeypatch):
    from writer.store import recall

    monkeypatch.setattr(recall, "fts5_missing", lambda: "no FTS5 in this SQLite")
    index = RecallIndex(_conn(store))
    assert index.unavailable == "no FTS5 in this SQLite"
    draft = store.create_draft("Tale", story())
    assert index.update(draft.id, story()) == 0
    assert Recaller(index.draft(draft.id)).recall(story(), 100, 100) == []
