"""Pilot tests of the drafts side of the app: autosave, library, history, files, faults."""

from __future__ import annotations

import time

from tests.ui.test_app_support import ScriptedEngine, loader_for, notified, run_app, wait_for
from writer.store import DraftStore, StoreWriteError
from writer.ui.app import WriterApp
from writer.ui.screens.confirm import ChoiceScreen
from writer.ui.screens.drafts import DraftsScreen


def make_app(file=None, **kwargs) -> WriterApp:
    return WriterApp(file, engine_loader=loader_for(ScriptedEngine()), **kwargs)


async def test_autosave_lands_in_the_store_within_two_seconds():
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"words")
        typed = time.monotonic()
        store = DraftStore.open()
        try:
            await wait_for(
                pilot, lambda: store.get_draft(app.writing.drafts.draft.id).text == "words", 2.0
            )
        finally:
            store.close()
        assert time.monotonic() - typed < 2.0
        # The worker wrote it; the UI thread shows it when the worker's message arrives.
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved", 2.0)


async def test_autosave_writes_on_a_worker_thread_not_the_ui_thread(monkeypatch):
    import threading

    app = make_app()
    writers: list[threading.Thread] = []
    async with run_app(app) as pilot:
        real = app.writing.drafts.store.save_text

        def save_text(*args, **kwargs):
            writers.append(threading.current_thread())
            return real(*args, **kwargs)

        monkeypatch.setattr(app.writing.drafts.store, "save_text", save_text)
        await pilot.press(*"off the loop")
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved" and writers, 3.0)
        assert threading.main_thread() not in writers
        assert (
            app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).text == "off the loop"
        )


async def test_no_file_reopens_the_last_draft():
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"kept")
        await pilot.press("ctrl+q")
    again = make_app()
    async with run_app(again) as pilot:
        assert again.writing.editor.text == "kept"


async def test_drafts_library_new_rename_open_delete_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.press(*"first")
        first_id = app.writing.drafts.draft.id
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, DraftsScreen)
        await pilot.press("n")  # new draft
        await pilot.pause()
        assert app.writing.drafts.draft.id != first_id and app.writing.editor.text == ""
        await pilot.press(*"second")
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("r")  # rename the highlighted (newest: the open one)
        await pilot.pause()
        app.screen.query_one("Input").value = "My Story"
        await pilot.press("enter")
        await pilot.pause()
        assert app.writing.status.title == "My Story"
        await pilot.press("e")  # export md to the default path (cwd)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert (tmp_path / "My-Story.md").read_text(encoding="utf-8").count("second") == 1
        await pilot.press("down", "d")  # delete the other draft: asks first
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("tab", "enter")  # "Delete"
        await pilot.pause()
        assert [d.id for d in app.writing.drafts.store.list_drafts()] == [
            app.writing.drafts.draft.id
        ]
        await pilot.press("escape")
        assert app.writing.editor.text == "second"


async def test_history_restores_a_revision_as_one_undo_step():
    app = make_app()
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.press(*"one")
        await pilot.press("ctrl+s")  # a manual revision: "one"
        await pilot.press(*" two")
        await pilot.press("ctrl+s")
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("down", "enter")  # the older revision
        await pilot.pause()
        assert app.writing.editor.text == "one"
        assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).text == "one"
        assert app.writing.drafts.store.history(app.writing.drafts.draft.id)[0].reason == "restore"
        await pilot.press("ctrl+z")
        assert app.writing.editor.text == "one two"


async def test_history_previews_large_revisions_lazily_and_restores_exactly():
    from writer.ui.screens.history import PREVIEW_LIMIT, HistoryScreen

    lines = [f"Line {i} of the long draft, with words in it.\n" for i in range(4000)]
    huge = "".join(lines)  # over PREVIEW_LIMIT: the preview shows its end
    middle = "".join(lines[:200]) + "A changed ending.\n"
    latest = "".join(lines[:150]) + "The last one.\n"
    assert len(huge) > PREVIEW_LIMIT and len(middle) > 4096 and len(latest) > 4096
    with DraftStore.open() as store:
        draft = store.create_draft("Long", huge)
        store.save_revision(draft.id, middle, "manual")
        store.save_revision(draft.id, latest, "manual")
    app = make_app()
    async with run_app(app, size=(100, 30)) as pilot:
        assert app.writing.editor.text == latest
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        screen = app.screen
        assert [r.reason for r in screen.revisions] == ["manual", "manual", "create"]
        assert all(r.text is None for r in screen.revisions)  # listed without texts
        preview = screen.query_one("#preview")
        await wait_for(pilot, lambda: preview.text == latest)
        await pilot.press("down")
        await wait_for(pilot, lambda: preview.text == middle)
        await pilot.press("down")
        await wait_for(pilot, lambda: preview.text.endswith(lines[-1]))
        assert preview.text.startswith("[… the first ") and len(preview.text) < len(huge)
        await pilot.press("up")
        await wait_for(pilot, lambda: preview.text == middle)
        await pilot.press("down", "enter")  # the huge one, restored whole
        await wait_for(pilot, lambda: app.writing.editor.text == huge)
        assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).text == huge
        await pilot.press("ctrl+z")
        assert app.writing.editor.text == latest


async def test_history_shows_a_damaged_revision_as_unreadable_and_keeps_the_text():
    import sqlite3

    from writer.ui.screens.history import HistoryScreen

    with DraftStore.open() as store:
        draft = store.create_draft("Long", "old words " * 1000)
        damaged = store.save_revision(draft.id, "old words " * 1000 + "and more.", "manual")
        store.save_revision(draft.id, "current", "manual")
        path = store.path
    with sqlite3.connect(path) as raw:  # another program wrote over one delta
        raw.execute("UPDATE revisions SET delta = X'00FF' WHERE id = ?", (damaged,))
    app = make_app()
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        preview = app.screen.query_one("#preview")
        await wait_for(pilot, lambda: preview.text == "current")
        await pilot.press("down")
        await wait_for(pilot, lambda: preview.text.startswith("[this revision cannot be shown"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: notified(app, f"revision {damaged} cannot be read"))
        assert app.writing.editor.text == "current"


async def test_alternatives_reinsert_an_earlier_candidate():
    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls and not app.writing.panel.running)
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: app.writing.drafts.store.generations.recent(app.writing.drafts.draft.id)
        )
        record = app.writing.drafts.store.generations.recent(app.writing.drafts.draft.id)[0]
        assert record.seed == engine.calls[0]["seed"]
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("down", "enter")  # the second candidate (the header is disabled)
        await pilot.pause()
        # Joined as the story's start: without the candidate's leading space.
        assert app.writing.editor.text == record.candidates[1]["text"].lstrip()


async def test_external_file_is_created_saved_and_protected_from_outside_changes(tmp_path):
    story = tmp_path / "new-story.md"
    app = make_app(story)
    async with run_app(app, size=(100, 30)) as pilot:
        assert story.exists() and story.read_text() == ""
        await pilot.press(*"mine")
        await pilot.press("ctrl+s")
        assert story.read_text() == "mine"
        assert app.writing.drafts.store.history(
            app.writing.drafts.draft.id
        )  # also a revision in the store
        story.write_text("theirs")
        await pilot.press(*"!")
        await wait_for(pilot, lambda: app.writing.status.save_state == "file changed on disk")
        assert story.read_text() == "theirs"  # warned, not overwritten
        assert (
            app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).text == "mine!"
        )  # text kept in the store
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("enter")  # "Overwrite it with my text"
        await pilot.pause()
        assert story.read_text() == "mine!"


async def test_failed_save_notifies_keeps_text_and_retries(monkeypatch):
    app = make_app()
    async with run_app(app) as pilot:
        real_text, real_revision = (
            app.writing.drafts.store.save_text,
            app.writing.drafts.store.save_revision,
        )

        def full_disk(*args, **kwargs):
            raise StoreWriteError("cannot write the drafts database: disk full")

        monkeypatch.setattr(app.writing.drafts.store, "save_text", full_disk)
        monkeypatch.setattr(app.writing.drafts.store, "save_revision", full_disk)
        await pilot.press(*"abc")
        await wait_for(pilot, lambda: app.writing.status.save_state == "save failed")
        await wait_for(pilot, lambda: notified(app, "disk full"))  # notify() is a message
        await pilot.press("ctrl+q")  # unsaved text: asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("enter")  # "Keep editing"
        monkeypatch.setattr(app.writing.drafts.store, "save_text", real_text)
        monkeypatch.setattr(app.writing.drafts.store, "save_revision", real_revision)
        app.writing.drafts.session.retry_at = 0  # do not wait out the retry delay in a test
        await wait_for(pilot, lambda: app.writing.status.save_state == "saved")
        assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).text == "abc"
        assert app.writing.editor.text == "abc"


async def test_second_instance_is_told_and_opens_read_only():
    other = DraftStore.open()  # stands in for the first instance: it holds the draft
    draft = other.create_draft("Shared", "hello")
    assert other.acquire_lock(draft.id)
    try:
        app = make_app()
        async with run_app(app) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, ChoiceScreen)
            assert "open in another writer" in app.screen.question
            await pilot.press("enter")  # "Open read-only"
            await pilot.press(*"xyz")
            assert app.writing.editor.read_only and app.writing.editor.text == "hello"
            await pilot.press("ctrl+q")
        assert other.get_draft(draft.id).text == "hello"
    finally:
        other.close()


async def test_failed_save_is_red_in_the_status_bar(monkeypatch):
    app = make_app()
    async with run_app(app) as pilot:

        def full_disk(*args, **kwargs):
            raise StoreWriteError("cannot write the drafts database: disk full")

        monkeypatch.setattr(app.writing.drafts.store, "save_text", full_disk)
        await pilot.press("x")
        await wait_for(pilot, lambda: app.writing.status.save_state == "save failed")
        shown = app.writing.status.render()
        at = shown.plain.index("save failed")
        assert "bold red" in [str(s.style) for s in shown.spans if s.start <= at < s.end]
