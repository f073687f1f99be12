"""Pilot tests of text that must never be lost around files: unopenable files, read-only files,
conflicts left at quit, file-backed drafts reached from the library, two windows on one draft,
and a drafts database deleted, truncated or replaced while the app runs."""

from __future__ import annotations

import os

import pytest

from tests.ui.test_app_support import (
    ScriptedEngine,
    loader_for,
    notices,
    notified,
    run_app,
    wait_for,
)
from writer.errors import WriterError
from writer.store import DraftStore
from writer.ui.app import WriterApp
from writer.ui.screens.confirm import ChoiceScreen


def make_app(file=None, **kwargs) -> WriterApp:
    return WriterApp(file, engine_loader=loader_for(ScriptedEngine()), **kwargs)


def stored_drafts() -> list:
    """Every draft as another process would read it (a second connection to the store)."""
    with DraftStore.open() as store:
        return [store.get_draft(d.id) for d in store.list_drafts()]


@pytest.mark.parametrize("kind", ["latin-1", "binary", "missing folder"])
async def test_typing_after_cannot_open_goes_to_a_new_draft(tmp_path, kind):
    path = tmp_path / "story.md"
    if kind == "latin-1":
        path.write_bytes("Caf\xe9 au lait".encode("latin-1"))
    elif kind == "binary":
        path.write_bytes(b"\x00\x01\x02PNG\x00" * 10)
    else:
        path = tmp_path / "no-such-folder" / "story.md"
    before = path.read_bytes() if path.exists() else None
    app = make_app(path)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: notified(app, "annot open"))
        told = [m for m in notices(app) if "annot open" in m]
        assert len(told) == 1 and told[0].lower().count("cannot open") == 1, told
        assert "new draft" in told[0]
        assert not app.writing.editor.read_only
        await pilot.press(*"rescued words")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        await wait_for(pilot, lambda: notified(app, "saved as a new draft"))
        await pilot.press("ctrl+q")
    assert (path.read_bytes() if path.exists() else None) == before  # the file is untouched
    assert [(d.title, d.text) for d in stored_drafts()] == [("story.md", "rescued words")]


async def test_unreadable_file_with_a_draft_edits_writers_copy(tmp_path):
    path = tmp_path / "story.md"
    path.write_text("first", encoding="utf-8")
    app = make_app(path)
    async with run_app(app) as pilot:
        await pilot.press("ctrl+q")
    path.write_bytes(b"\xff\xfe bad")  # now not UTF-8
    app = make_app(path)
    async with run_app(app) as pilot:
        assert app.writing.editor.text == "first"
        await wait_for(pilot, lambda: notified(app, "writer's own copy"))
        await pilot.press(*"more ")
        await pilot.press("ctrl+q")
    # typed where the author left off: the end of "first" (a file opens where it was left)
    assert [d.text for d in stored_drafts()] == ["firstmore "]
    assert path.read_bytes() == b"\xff\xfe bad"


async def test_file_that_cannot_be_written_keeps_its_text_in_the_store(tmp_path, monkeypatch):
    import writer.external

    path = tmp_path / "story.md"
    path.write_text("", encoding="utf-8")
    real_write = writer.external.atomic_write_text

    def read_only(target, text):
        raise WriterError(f"cannot save {target}: Permission denied; the file on disk is unchanged")

    app = make_app(path)
    async with run_app(app) as pilot:
        monkeypatch.setattr(writer.external, "atomic_write_text", read_only)
        await pilot.press(*"unsaveable")
        await wait_for(pilot, lambda: app.writing.status.save_state == "file not saved")
        # What a kill -9 now would leave: the text is in the store.
        assert [d.text for d in stored_drafts()] == ["unsaveable"]
        await wait_for(pilot, lambda: notified(app, "Could not write the file"))
        await pilot.press("ctrl+q")  # the file lacks the text: asks
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "does not have your latest text" in app.screen.question
        await pilot.press("enter")  # Keep editing
        monkeypatch.setattr(writer.external, "atomic_write_text", real_write)
        app.writing.drafts.session.file_retry_at = 0  # do not wait out the retry delay in a test
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        assert path.read_text(encoding="utf-8") == "unsaveable"


async def test_quit_with_a_conflict_asks_and_reopening_offers_the_newer_text(tmp_path):
    path = tmp_path / "story.md"
    path.write_text("", encoding="utf-8")
    app = make_app(path)
    async with run_app(app) as pilot:
        await pilot.press(*"mine")
        await wait_for(pilot, lambda: path.read_text(encoding="utf-8") == "mine")
        path.write_text("theirs", encoding="utf-8")
        await pilot.press(*" later")
        await wait_for(pilot, lambda: app.writing.status.save_state == "file changed on disk")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "does not have your latest text" in app.screen.question
        await pilot.press("tab", "enter")  # Quit without writing the file
    assert path.read_text(encoding="utf-8") == "theirs"

    app = make_app(path)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "older than your latest text" in app.screen.question
        assert app.writing.editor.text == "mine later"
        texts = [
            app.writing.drafts.store.get_revision(r.id).text
            for r in app.writing.drafts.store.history(app.writing.drafts.draft.id)
        ]
        assert "theirs" in texts and "mine later" in texts
        await pilot.press("enter")  # Write my text to the file
        await wait_for(pilot, lambda: path.read_text(encoding="utf-8") == "mine later")
        assert app.writing.status.save_state == "saved"


async def test_file_changed_while_writer_was_closed_is_shown_with_a_notice(tmp_path):
    path = tmp_path / "story.md"
    path.write_text("old", encoding="utf-8")
    app = make_app(path)
    async with run_app(app) as pilot:
        await pilot.press("ctrl+q")
    path.write_text("edited elsewhere", encoding="utf-8")
    app = make_app(path)
    async with run_app(app) as pilot:
        assert app.writing.editor.text == "edited elsewhere"
        await wait_for(pilot, lambda: notified(app, "changed outside writer"))
        assert "old" in [
            app.writing.drafts.store.get_revision(r.id).text
            for r in app.writing.drafts.store.history(app.writing.drafts.draft.id)
        ]


async def test_file_backed_draft_from_the_library_keeps_writing_its_file(tmp_path):
    path = tmp_path / "f2.md"
    app = make_app(path)
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.press(*"Alpha.")
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("n")  # a new draft
        await pilot.pause()
        assert app.writing.drafts.external is None
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("down", "enter")  # f2.md (the new draft is newest)
        await pilot.pause()
        assert app.writing.drafts.external is not None and app.writing.editor.text == "Alpha."
        await pilot.press(*" Beta.")
        await pilot.press("ctrl+s")
        assert path.read_text(encoding="utf-8") == "Alpha. Beta."
        # History restore (f3) goes to the file too.
        first = next(
            r
            for r in app.writing.drafts.store.history(app.writing.drafts.draft.id)
            if r.preview == "Alpha."
        )
        app.writing.restore_revision(first.id)
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        assert path.read_text(encoding="utf-8") == "Alpha."


async def test_edit_a_copy_of_a_draft_open_elsewhere_keeps_both_texts():
    other = DraftStore.open()  # stands in for the first window: it holds the draft
    draft = other.create_draft("Shared", "hello")
    assert other.acquire_lock(draft.id)
    try:
        app = make_app()
        async with run_app(app) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
            assert "open in another writer" in app.screen.question
            await pilot.press("tab", "enter")  # "Edit a copy"
            await pilot.press("end", *" mine")
            assert app.writing.drafts.draft.id != draft.id
            await wait_for(pilot, lambda: notified(app, "editing a copy"))
            await pilot.press("ctrl+q")
        other.save_text(draft.id, "hello theirs")  # the first window goes on saving
        texts = {d.title: d.text for d in (other.get_draft(s.id) for s in other.list_drafts())}
        assert texts == {"Shared": "hello theirs", "Shared (copy)": "hello mine"}
    finally:
        other.close()


async def test_deleted_database_is_recreated_with_every_draft(isolated_user_dirs):
    with DraftStore.open() as store:
        store.create_draft("Other", "another story")
        store.create_draft("Mine")  # the newest: the app opens it
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"typed")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        path = app.writing.drafts.store.path
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.unlink(f"{path}{suffix}")
        await wait_for(pilot, lambda: path.exists())
        await wait_for(pilot, lambda: notified(app, "was deleted while writer was running"))
        await pilot.press(*" more")
        await pilot.press("ctrl+q")
    texts = sorted(d.text for d in stored_drafts())
    assert texts == ["another story", "typed more"]


async def test_truncated_database_is_written_again_with_every_draft(isolated_user_dirs):
    with DraftStore.open() as store:
        store.create_draft("Other", "another story")
        store.create_draft("Mine")  # the newest: the app opens it
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"typed")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        path = app.writing.drafts.store.path
        os.truncate(path, 0)
        os.truncate(f"{path}-wal", 0)
        await wait_for(pilot, lambda: notified(app, "was truncated while writer was running"))
        [moved] = path.parent.glob("writer.db.truncated-*[0-9]")
        assert any(str(moved) in n for n in notices(app))
        await pilot.press(*" more")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        await pilot.press("ctrl+q")
    texts = sorted(d.text for d in stored_drafts())
    assert texts == ["another story", "typed more"]
    assert os.stat(path).st_mode & 0o777 == 0o600


async def test_database_renamed_over_is_kept_aside_not_written_into(isolated_user_dirs, tmp_path):
    with DraftStore.open() as store:
        store.create_draft("Other", "another story")
        store.create_draft("Mine")
    foreign = tmp_path / "elsewhere.db"
    with DraftStore.open(foreign) as other:
        other.create_draft("Foreign", "not mine")
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"typed")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        path = app.writing.drafts.store.path
        os.rename(foreign, path)
        await wait_for(pilot, lambda: notified(app, "Another file was moved onto"))
        await pilot.press(*" more")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        await pilot.press("ctrl+q")
    assert sorted(d.text for d in stored_drafts()) == ["another story", "typed more"]
    [moved] = path.parent.glob("writer.db.replaced-*[0-9]")
    with DraftStore.open(moved) as kept:
        assert [kept.get_draft(d.id).text for d in kept.list_drafts()] == ["not mine"]
