"""The app's side of `writer learn`: the generation log keeps the prompt the model was given,
and once a session a notification names the command when the picks reach `learn_after`."""

from __future__ import annotations

from tests.ui.test_app_support import (
    ScriptedEngine,
    loader_for,
    notices,
    notified,
    run_app,
    wait_for,
)
from writer.config import Config
from writer.store import DraftStore
from writer.ui.app import WriterApp


async def test_picks_are_logged_with_their_prompt_and_the_hint_comes_once(
    isolated_user_dirs,
) -> None:
    engine = ScriptedEngine(tokens=6)  # three candidates of six words each
    app = WriterApp(engine_loader=loader_for(engine), config=Config(learn_after=4))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press(*"Fox")
        for round_ in range(3):
            await pilot.press("ctrl+g")
            panel = app.writing.panel
            await wait_for(pilot, lambda p=panel: p.is_open and not p.running)
            await pilot.press("tab", "1")
            await wait_for(pilot, lambda: not app.writing.panel.is_open)
            if round_ == 0:
                assert not notified(app, "picks to learn from")  # 2 pairs: not yet
        await wait_for(pilot, lambda: notified(app, "picks to learn from"))
        draft_id = app.writing.drafts.draft.id
        await pilot.press("ctrl+q")
    hints = [n for n in notices(app) if "picks to learn from" in n]
    assert len(hints) == 1 and f"writer learn --name my-taste --draft {draft_id}" in hints[0]
    with DraftStore.open() as store:
        first = store.generations.recent(draft_id, 10)[-1]
    assert first.prompt == "Fox" and first.inserted == 0
