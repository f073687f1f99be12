"""Pilot tests of the small things of a first hour: no empty draft left behind, a new draft named
by its first line, the draft or file edited last reopened, word counts without idea notes, the
status bar of a fresh draft and of a server's model."""

from __future__ import annotations

from tests.ui.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.store import DraftStore
from writer.ui.app import WriterApp


def make_app(file=None, engine=None) -> WriterApp:
    return WriterApp(file, engine_loader=loader_for(engine or ScriptedEngine()))


def _drafts() -> list:
    store = DraftStore.open()
    try:
        return store.list_drafts()
    finally:
        store.close()


async def test_a_visit_that_types_nothing_leaves_no_draft():
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
    assert _drafts() == []


async def test_a_new_draft_takes_its_title_from_its_first_heading():
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"# The Lighthouse", "enter", "enter", *"It was")
        await wait_for(pilot, lambda: app.writing.status.title == "The Lighthouse", 5)
        await pilot.press("ctrl+q")
    assert [d.title for d in _drafts()] == ["The Lighthouse"]


async def test_no_file_reopens_the_draft_or_file_edited_last(tmp_path):
    store = DraftStore.open()
    try:
        store.create_draft("Rain.md", "Rain fell.")
    finally:
        store.close()
    story = tmp_path / "story.md"
    story.write_text("The boat.\n", encoding="utf-8")
    app = make_app(story)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: "boat" in app.writing.editor.text)
        app.writing.editor.move_cursor(app.writing.editor.document.end)
        await pilot.press(*"More")
        await pilot.press("ctrl+q")
    again = make_app()
    async with run_app(again) as pilot:
        await pilot.pause()
        assert again.writing.drafts.file == story
        assert "More" in again.writing.editor.text


async def test_words_leave_idea_notes_out_and_a_new_draft_has_no_old_context_fill():
    app = make_app()
    async with run_app(app) as pilot:
        await pilot.press(*"one two three")
        app.writing.editor.insert_idea("a storm comes in")
        await wait_for(pilot, lambda: app.writing.status.words == 3, 5)
        app.writing.context_fill = "ctx 274/1024"
        app.writing.drafts.switch_draft(None)
        await pilot.pause()
        assert app.writing.context_fill == ""
        assert app.writing.status.context_fill == ""


class ServedEngine(ScriptedEngine):
    """A stand-in for the remote engine's identity: a served model at a host."""

    name = "gpt2-served"
    device = "server"
    precision = "server"
    url = "http://127.0.0.1:8765/v1"


async def test_status_bar_names_the_servers_model_and_host():
    app = WriterApp(engine_loader=loader_for(ServedEngine()), model="http://127.0.0.1:8765")
    async with run_app(app, size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        shown = " ".join(str(field) for field in app.writing.status.fields(200))
        assert "gpt2-served ready (127.0.0.1:8765)" in shown
        assert "server, server" not in shown


async def test_save_as_and_export_keep_the_files_name_and_extension(tmp_path, monkeypatch):
    from textual.widgets import Input

    from writer.ui.screens.prompt import PromptScreen

    monkeypatch.chdir(tmp_path)
    story = tmp_path / "story.md"
    story.write_text("# The Boat\n\nIt came in.\n", encoding="utf-8")
    app = make_app(story)
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "Boat" in app.writing.editor.text)
        await pilot.press("f12")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        assert app.screen.query_one(Input).value == str(tmp_path / "story-copy.md")
        await pilot.press("escape")
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("e")  # export the open draft ("story.md") as Markdown
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        assert app.screen.query_one(Input).value == str(tmp_path / "story-copy.md")


def test_names_offered_for_copies_and_exports():
    from writer.ui.screens.drafts import export_name
    from writer.ui.screens.saveas import default_name

    assert default_name("story.md") == "story-copy.md"
    assert default_name("notes.txt") == "notes-copy.txt"
    assert default_name("The Lighthouse") == "The-Lighthouse.txt"
    assert default_name("") == "story.txt"
    assert export_name("Rain.md", "md") == "Rain-copy.md"
    assert export_name("Rain.md", "txt") == "Rain.txt"
    assert export_name("The Lighthouse", "md") == "The-Lighthouse.md"


def test_a_markdown_export_keeps_the_storys_own_heading_first():
    from writer.store.textio import format_export

    assert format_export("story.md", "# The Boat\n\nIt came in.", "md") == (
        "# The Boat\n\nIt came in.\n"
    )
    assert format_export("Rain", "It rained.", "md") == "# Rain\n\nIt rained.\n"
