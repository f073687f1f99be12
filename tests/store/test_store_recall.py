"""The store keeps each draft's recall index current: the autosave (`save_text`), creating,
importing and restoring update it in the same transaction; deleting a draft forgets it; a
failed save leaves the index as it was; salvage starts without it and the next save rebuilds it."""

from __future__ import annotations

import pytest

from writer.config import Config
from writer.engine.story.recall import Recaller
from writer.errors import WriterError
from writer.store import DraftStore
from writer.store.recall import TABLE

PLANTED = "Mirela Vask, the lighthouse keeper of Ostrava Point, kept a brass telescope."


def story(n: int = 60, planted: str = PLANTED) -> str:
    filler = [
        f"Day {i}: the rain came down on the old road and the market opened." for i in range(n)
    ]
    filler.insert(2, planted)
    return "\n\n".join(filler) + "\n\nSomeone asked where Mirela Vask had gone.\n"


@pytest.fixture
def store(tmp_path):
    with DraftStore.open(tmp_path / "writer.db", config=Config()) as s:
        yield s


def recalled(store, draft_id: int, text: str) -> list[str]:
    found = Recaller(store.recall.draft(draft_id)).recall(text, len(text) - 200, 200)
    return [p.text for p in found]


def rows(store) -> int:
    return store.core.conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def test_create_and_autosave_keep_the_index_current(store):
    text = story()
    draft = store.create_draft("Tale", text)
    assert recalled(store, draft.id, text) == [PLANTED]
    moved = PLANTED.replace("brass telescope", "green umbrella")
    edited = text.replace(PLANTED, moved)
    before = rows(store)
    store.save_text(draft.id, edited)
    assert rows(store) == before  # one paragraph out, one in
    assert recalled(store, draft.id, edited) == [moved]
    assert store.recall.update(draft.id, edited) == 0  # nothing left to do


def test_restore_and_import_update_it_and_delete_forgets_it(store, tmp_path):
    text = story()
    draft = store.create_draft("Tale", text)
    revision = store.save_revision(draft.id, text, "manual")
    store.save_text(draft.id, "Only a line about nobody.\n")
    assert recalled(store, draft.id, text) == []
    store.restore_revision(draft.id, revision)
    assert recalled(store, draft.id, text) == [PLANTED]
    path = tmp_path / "tale.txt"
    path.write_text(text, encoding="utf-8")
    imported = store.import_file(path)
    assert recalled(store, imported.id, text) == [PLANTED]
    store.delete_draft(draft.id)
    store.delete_draft(imported.id)
    assert rows(store) == 0


def test_a_failed_save_leaves_the_index_and_its_memory_as_they_were(store, monkeypatch):
    text = story()
    draft = store.create_draft("Tale", text)
    moved = text.replace(PLANTED, PLANTED.replace("brass", "iron"))
    update = store.recall.update

    def then_fail(*args):
        update(*args)  # the index is updated inside the save's transaction...
        raise WriterError("disk full")  # ...which then fails and rolls back

    monkeypatch.setattr(store.recall, "update", then_fail)
    with pytest.raises(WriterError):
        store.save_text(draft.id, moved)
    monkeypatch.undo()
    assert store.get_draft(draft.id).text == text
    assert recalled(store, draft.id, text) == [PLANTED]
    store.save_text(draft.id, moved)  # what the index remembered was dropped: it catches up
    assert recalled(store, draft.id, moved) == [PLANTED.replace("brass", "iron")]


def test_an_index_failure_never_fails_the_save(store, monkeypatch):
    import sqlite3

    draft = store.create_draft("Tale", "")

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database disk image is malformed")

    monkeypatch.setattr(store.recall, "update", broken)
    store.save_text(draft.id, story())
    assert store.get_draft(draft.id).text == story()


def test_a_store_opened_elsewhere_sees_the_other_connections_updates(tmp_path):
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as a, DraftStore.open(path, config=Config()) as b:
        draft = a.create_draft("Tale", story())
        b.save_text(draft.id, story(planted="Anna Lind kept bees on the roof."))
        # a remembered the draft's rows; b's commit makes it read them again.
        a.save_text(draft.id, story())
        assert recalled(a, draft.id, story()) == [PLANTED]
        assert a.recall.update(draft.id, story()) == 0


def test_a_drafts_recall_cap_is_kept_with_its_story_context(store, tmp_path):
    from writer.engine.story.context import StoryContext

    draft = store.create_draft("Tale", story())
    store.context.save(draft.id, StoryContext(recall_tokens=0))
    assert store.context.load(draft.id).recall_tokens == 0  # off for this draft
    store.context.save(draft.id, StoryContext(memory="Winter.", recall_tokens=256))
    exported = store.export_draft(draft.id, "md")
    assert "recall_tokens = 256" in exported
    path = tmp_path / "tale.md"
    path.write_text(exported, encoding="utf-8")
    imported = store.import_file(path)
    assert store.context.load(imported.id).recall_tokens == 256
    store.context.save(draft.id, StoryContext())
    assert store.context.load(draft.id).recall_tokens is None


def test_a_crlf_draft_is_found_from_the_editors_lines(store):
    from writer.engine.story.recall import TailRecaller

    text = story()
    draft = store.create_draft("Tale", text.replace("\n", "\r\n"))  # saved with Windows breaks
    lines = text.split("\n")  # the editor's lines have no line-break characters
    recaller = TailRecaller(Recaller(store.recall.draft(draft.id)), lines)
    found = recaller.candidates(text[-300:], 100)
    assert [p.text for p in found] == [PLANTED] and found[0].start == text.index(PLANTED)


def test_a_store_without_the_index_gets_it_back_on_the_next_save(tmp_path):
    path = tmp_path / "writer.db"
    with DraftStore.open(path, config=Config()) as store:
        draft = store.create_draft("Tale", story())
        # As a salvaged database starts: the drafts without their derived index.
        store.core.conn.execute(f"DROP TABLE {TABLE}_vocab")
        store.core.conn.execute(f"DROP TABLE {TABLE}")
    with DraftStore.open(path, config=Config()) as store:
        assert recalled(store, draft.id, story()) == []
        store.save_text(draft.id, story() + "One more line.\n")
        assert recalled(store, draft.id, story()) == [PLANTED]
