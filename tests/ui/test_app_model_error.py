"""A long model error (issue 10, item 6): its full text is in a notification and in the models
screen (f5), whatever the status bar has room for."""

from __future__ import annotations

from textual.widgets import Static

from tests.ui.test_app_support import notices, run_app, wait_for
from writer.ui.app import WriterApp
from writer.ui.screens.models import ModelsScreen

REASON = (
    "cannot load model 'nope': the folder /home/someone/models/a-very-long-fine-tune-name-v3 "
    "has no config.json (is it a checkpoint folder?); pass --model PATH to a folder made by "
    "`writer finetune` or a hub id such as gpt2 END-OF-REASON"
)


def broken(name, device):
    from writer.errors import WriterError

    raise WriterError(REASON)


async def test_the_whole_error_is_in_a_notification_and_in_the_models_screen(monkeypatch):
    monkeypatch.setattr("writer.engine.models.list_models", lambda: [])
    app = WriterApp(model="nope", engine_loader=broken)
    async with run_app(app, size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "error")
        await wait_for(pilot, lambda: any("END-OF-REASON" in n for n in notices(app)))
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        shown = app.screen.query_one("#load-error", Static)
        assert shown.display and "END-OF-REASON" in str(shown.render())
        assert REASON in str(shown.render())


async def test_no_error_line_when_the_model_loaded(monkeypatch):
    from tests.ui.test_app_support import ScriptedEngine, loader_for

    monkeypatch.setattr("writer.engine.models.list_models", lambda: [])
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        assert not app.screen.query_one("#load-error", Static).display
