"""Export from the drafts library (e / x): asks before replacing, never follows an unnamed link,
never writes into the store, and a missing folder is one clear notification."""

from __future__ import annotations

from tests.ui.test_app_support import ScriptedEngine, loader_for
from writer.ui.app import WriterApp
from writer.ui.screens.confirm import ChoiceScreen
from writer.ui.screens.drafts import DraftsScreen


def _messages(app: WriterApp) -> list[str]:
    return [n.message for n in app._notifications]


async def _export(pilot, app: WriterApp, path: str | None = None) -> None:
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(app.screen, DraftsScreen)
    await pilot.press("e")
    await pilot.pause()
    if path is not None:
        app.screen.query_one("Input").value = path
    await pilot.press("enter")
    await pilot.pause()


async def test_export_asks_before_overwriting_and_never_follows_a_planted_link(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press(*"new words")
        existing = tmp_path / f"Untitled-draft-{app.writing.drafts.draft.id}.md"
        existing.write_text("someone else's file", encoding="utf-8")

        await _export(pilot, app)
        assert isinstance(app.screen, ChoiceScreen) and "already exists" in app.screen.question
        await pilot.press("enter")  # the focused first choice: Cancel
        await pilot.pause()
        assert existing.read_text(encoding="utf-8") == "someone else's file"

        await pilot.press("e", "enter")
        await pilot.pause()
        await pilot.press("tab", "enter")  # Overwrite
        await pilot.pause()
        assert existing.read_text(encoding="utf-8") == "new words\n"

        victim = tmp_path / "victim.txt"
        victim.write_text("precious", encoding="utf-8")
        existing.unlink()
        existing.symlink_to(victim)
        await pilot.press("e", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen) and "is a link to" in app.screen.question
        await pilot.press("tab", "enter")  # Replace link
        await pilot.pause()
        assert victim.read_text(encoding="utf-8") == "precious"
        assert not existing.is_symlink() and existing.read_text(encoding="utf-8") == "new words\n"
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


async def test_export_to_a_missing_folder_or_the_store_is_one_clear_notification(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press(*"words")
        await _export(pilot, app, str(tmp_path / "no" / "such" / "story.md"))
        failed = [m for m in _messages(app) if m.startswith("Export failed")]
        assert failed and "does not exist" in failed[-1] and "Errno" not in failed[-1]
        db = app.writing.drafts.store.path
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("Input").value = str(db)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DraftsScreen)  # no confirmation offered
        assert "export somewhere else" in _messages(app)[-1]
        assert db.read_bytes().startswith(b"SQLite format 3\x00")
        assert app.writing.drafts.store.get_draft(app.writing.drafts.draft.id).title == ""
