"""Pilot tests of the editor an author expects: where they left off, document keys, find and
replace, a word goal, save as, and shaping candidates."""

from __future__ import annotations

from tests.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.store import DraftStore
from writer.ui.app import WriterApp

LINES = "\n".join(f"Line {i} of the story, long enough to be a line." for i in range(200))


def make_app(file=None, **kwargs) -> WriterApp:
    return WriterApp(file, engine_loader=loader_for(ScriptedEngine()), **kwargs)


def seed_draft(text: str = LINES, **position) -> int:
    with DraftStore.open() as store:
        draft = store.create_draft("Novel", text)
        if position:
            store.set_position(draft.id, position["cursor"], position["scroll"])
        return draft.id


async def test_a_draft_reopens_with_cursor_and_scroll_where_the_author_left():
    seed_draft()
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.editor.text == LINES)
        app.editor.move_cursor((120, 7), center=True)
        await wait_for(pilot, lambda: app.editor.scroll_offset.y > 100)
        where = app.editor.position
        await pilot.press("ctrl+q")
    again = make_app()
    async with run_app(again) as pilot:
        await wait_for(pilot, lambda: again.editor.position == where)
        assert again.editor.cursor_location == (120, 7)


async def test_moving_the_cursor_without_typing_is_recorded_by_the_autosave_timer():
    draft_id = seed_draft(cursor=(0, 0), scroll=0)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.editor.text == LINES)
        await pilot.press("down", "down", "right")
        with DraftStore.open() as store:
            await wait_for(pilot, lambda: store.get_draft(draft_id).cursor == (2, 1), 5.0)
        assert app.status.save_state == "saved"


async def test_a_draft_never_reopened_and_a_new_file_open_at_the_end(tmp_path):
    seed_draft()  # no position recorded: where an author continues is the end
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.editor.text == LINES)
        assert app.editor.cursor_location == app.editor.document.end
        await wait_for(pilot, lambda: app.editor.scroll_offset.y > 100)
    story = tmp_path / "story.md"
    story.write_text("First line.\nSecond line, the last.", encoding="utf-8")
    app = make_app(story)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.editor.text.startswith("First"))
        assert app.editor.cursor_location == (1, len("Second line, the last."))


async def test_a_position_beyond_a_text_changed_outside_is_clamped():
    seed_draft("short\ntext", cursor=(150, 40), scroll=140)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.editor.text == "short\ntext")
        assert app.editor.cursor_location == (1, 4)


async def test_ctrl_home_and_ctrl_end_go_to_the_start_and_end_of_the_story():
    seed_draft(cursor=(50, 3), scroll=40)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.editor.cursor_location == (50, 3))
        await pilot.press("ctrl+end")
        assert app.editor.cursor_location == app.editor.document.end
        await pilot.press("ctrl+home")
        assert app.editor.cursor_location == (0, 0)
        await wait_for(pilot, lambda: app.editor.scroll_offset.y == 0)
        await pilot.press("ctrl+shift+end")
        assert app.editor.selected_text == LINES
