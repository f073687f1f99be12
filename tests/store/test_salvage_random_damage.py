"""Salvage under random damage to the first pages (the header and schema among them), over
fixed seeds: every draft's latest text must come back from the intact leaf pages.

The store holds compressed revision bases, whose bytes look like noise: with the header gone,
the page scan must still find the page size (a guess from the first byte of each page alone
took 1024 for 4096 and found nothing in 16 of these 40 seeds)."""

from __future__ import annotations

import random
import sqlite3
import stat
from pathlib import Path

import pytest

from writer.config import Config
from writer.store import DraftStore, salvage
from writer.store.salvagerows import classify
from writer.store.sqlitefile import freelist_pages, leaf_rows

PAGE = 4096
SEEDS = range(40)


@pytest.fixture(autouse=True)
def no_sqlite3_program(monkeypatch):
    """CI has only Python: the page scan alone must find the drafts."""
    monkeypatch.setattr(salvage.shutil, "which", lambda name: None)


def _prose(i: int, words: int) -> str:
    """Words of random letters: text that compresses poorly, like a real story's revisions."""
    rng = random.Random(i * 100_000 + words)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return (
        " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(words)
        )
        + " end."
    )


def _latest(i: int) -> str:
    return _prose(i, 3000)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> bytes:
    """Three drafts, each with a few revisions (compressed bases and deltas) and a log entry."""
    path = tmp_path_factory.mktemp("pristine") / "writer.db"
    with DraftStore.open(path, config=Config()) as store:
        for i in (1, 2, 3):
            draft = store.create_draft(f"Story {i}", _prose(i, 2900))
            for k in range(4):
                store.save_revision(draft.id, _prose(i, 2000 + 200 * k), "manual")
            store.save_text(draft.id, _latest(i))
            store.generations.log(draft.id, "continue", {"temperature": 1}, 7, "m", [{"text": "x"}])
    data = path.read_bytes()
    assert len(data) // PAGE > 12  # the drafts' rows and texts lie past the damaged pages
    drafts_pages = {
        r.page for r in leaf_rows(data) if (classify(r.rowid, r.values) or ("",))[0] == "drafts"
    }
    assert drafts_pages and min(drafts_pages) > 6
    return data


def _damage(data: bytes, seed: int) -> tuple[bytes, list[int]]:
    """Random bytes over 1 to 3 of pages 1-6, chosen by `seed`."""
    rng = random.Random(seed)
    damaged = bytearray(data)
    pages = sorted(rng.sample(range(1, 7), rng.randint(1, 3)))
    for page in pages:
        damaged[(page - 1) * PAGE : page * PAGE] = bytes(rng.randrange(256) for _ in range(PAGE))
    return bytes(damaged), pages


def test_every_draft_survives_random_damage_to_pages_1_to_6(pristine, tmp_path) -> None:
    lost: dict[int, tuple[list[int], int]] = {}
    for seed in SEEDS:
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        path = folder / "writer.db"
        damaged, pages = _damage(pristine, seed)
        path.write_bytes(damaged)
        with DraftStore.open(path, config=Config()) as store:
            assert store.recovered is not None and store.recovered.read_bytes() == damaged
            texts = {store.get_draft(d.id).text for d in store.list_drafts()}
        found = sum(_latest(i) in texts for i in (1, 2, 3))
        if found < 3:
            lost[seed] = (pages, found)
    assert not lost, f"seeds (damaged pages, drafts found) that lost a draft: {lost}"


def test_a_salvaged_database_is_private(pristine, tmp_path) -> None:
    path = tmp_path / "writer.db"
    damaged, _pages = _damage(pristine, 0)
    path.write_bytes(damaged)
    path.chmod(0o644)  # as a copy or an editor might leave it
    with DraftStore.open(path, config=Config()) as store:
        assert store.recovered is not None and store.salvaged == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if companion.exists():
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600


def test_a_deleted_draft_stays_deleted_when_the_freelist_is_intact(tmp_path) -> None:
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as store:
        for i in (1, 2, 3):
            store.create_draft(f"Story {i}", _prose(i, 3000))
        gone = store.create_draft("Deleted", _prose(9, 3000))
    # As a SQLite built without secure_delete leaves it: the freed pages still hold the text.
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA secure_delete = OFF")
    for table, column in (("revisions", "draft_id"), ("revision_bases", "draft_id")):
        raw.execute(f"DELETE FROM {table} WHERE {column} = ?", (gone.id,))
    raw.execute("DELETE FROM drafts WHERE id = ?", (gone.id,))
    raw.close()
    data = bytearray(path.read_bytes())
    free = freelist_pages(bytes(data), PAGE)
    assert free
    keep = {r.page for r in leaf_rows(bytes(data))} | {1} | free
    victim = next(p for p in range(2, len(data) // PAGE) if p not in keep)
    data[(victim - 1) * PAGE : victim * PAGE] = bytes(PAGE)  # an overflow page of a kept draft
    path.write_bytes(bytes(data))
    with DraftStore.open(path, config=Config()) as store:
        assert store.recovered is not None
        texts = [store.get_draft(d.id).text for d in store.list_drafts()]
    deleted = _prose(9, 3000)
    assert not any(deleted[100:200] in text for text in texts)
