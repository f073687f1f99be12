"""Pilot tests of settings that stay: f2's candidate count is the draft's, after a restart too,
and the chat follows it."""

from __future__ import annotations

from tests.ui.test_app_chat import ChatEngine
from tests.ui.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.store import DraftStore
from writer.ui.app import WriterApp
from writer.ui.screens.parameters import ParametersScreen


class CountingEngine(ChatEngine):
    """Records each request's candidate count (story candidates and chat replies alike)."""

    def stream(self, prompt, params, n=3, seed=None, mode="continue", cancel=None, **kw):
        self.calls.append({"n": n})
        yield from super().stream(prompt, params, n, seed, mode, cancel, **kw)


async def test_f2_candidate_count_is_the_drafts_after_a_restart_and_in_the_chat():
    engine = ScriptedEngine(tokens=2)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 40)) as pilot:
        await pilot.press(*"Rain")
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, ParametersScreen)
        app.screen.query_one("#candidates").value = "4"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+q")
    draft_id = app.writing.drafts.draft.id
    store = DraftStore.open()
    try:
        assert store.get_draft(draft_id).overrides == {"candidates": 4}
    finally:
        store.close()

    engine = CountingEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        assert app.writing.drafts.draft.id == draft_id
        assert app.writing.status.preset == "balanced"  # a count is not a changed preset
        await pilot.press("f2")
        await pilot.pause()
        assert app.screen.query_one("#candidates").value == "4"
        await pilot.press("escape")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls and not app.writing.panel.running)
        assert engine.calls[-1]["n"] == 4
        assert len(app.writing.panel.texts) == 4
        # The chat asks for the draft's count of replies too.
        await pilot.press("escape", "shift+f8")
        await pilot.pause()
        await pilot.press(*"Mara", "tab")
        app.screen.query_one("#line").value = "Who are you?"
        app.screen.query_one("#line").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(engine.calls) == 2)
        assert engine.calls[-1]["n"] == 4
