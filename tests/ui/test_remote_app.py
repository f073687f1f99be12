"""The app writing with a model on a real `writer serve` (Pilot): candidates stream as with a
local model; a stalled server leaves the editor responsive and cancel works; an unreachable
server is a notification."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _isolated_env
from tests.servers import ServeProcess, build_long_model
from tests.ui.test_app_support import notified, run_app, wait_for
from writer.engine.opening import remote_engine_loader
from writer.ui.app import WriterApp


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    proc = ServeProcess(tiny_model_dir, _isolated_env(tmp_path_factory.mktemp("app-serve")))
    yield proc
    proc.stop()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text])


async def test_app_generates_and_inserts_with_a_served_model(server):
    app = WriterApp(engine_loader=remote_engine_loader(server.url))
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 60)
        assert app.model.engine.kind == "writer"
        # The status bar names the served model and the server's host, not "(server, server)".
        from urllib.parse import urlsplit

        shown = " ".join(str(field) for field in app.writing.status.fields(200))
        host = urlsplit(app.model.engine.url).netloc
        assert f"{app.model.engine.name} ready ({host})" in shown, shown
        app.writing.overrides = {"max_new_tokens": 6}
        await type_text(pilot, "Once upon a time")
        await pilot.press("ctrl+g")
        await wait_for(
            pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running, 60
        )
        assert len(app.writing.panel.texts) == 3 and any(t.strip() for t in app.writing.panel.texts)
        chosen = app.writing.panel.texts[1]
        await pilot.press("tab", "2")
        await pilot.pause()
        assert app.writing.editor.text.splitlines() == ("Once upon a time" + chosen).splitlines()


async def test_probabilities_view_and_swap_and_continue_with_a_served_model(server):
    """The probabilities view and swap over `writer serve`: the candidate's tokens with their
    alternatives, and a swap that streams N new candidates from the swapped token."""
    from tests.ui.test_app_support import message_log
    from writer.ui.messages import GenerationFinished
    from writer.ui.screens.tokens import TokenProbsScreen

    app = WriterApp(engine_loader=remote_engine_loader(server.url))
    async with run_app(app, size=(110, 32)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 60)
        app.writing.overrides = {"max_new_tokens": 6, "stop": "none"}
        await type_text(pilot, "Once upon a time")
        await pilot.press("ctrl+g")
        await wait_for(
            pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running, 60
        )
        tokens = app.writing.panel.tokens[0]
        assert len(tokens) == 6 and "".join(t.text for t in tokens) == app.writing.panel.texts[0]
        assert all(len(t.top) == 10 for t in tokens)  # the app's k, through the server
        await pilot.press("tab", "p")
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        options = app.screen.query_one("#alternatives")
        assert options.option_count == 10 and "%" in str(options.get_option_at_index(0).prompt)
        await pilot.press("right")
        top = tokens[1].top
        j = next(
            i for i, c in enumerate(top) if "\ufffd" not in c.text and c.text != tokens[1].text
        )
        before = len(message_log(app).of(GenerationFinished))
        await pilot.press(*["down"] * j, "enter")
        await wait_for(pilot, lambda: len(message_log(app).of(GenerationFinished)) > before, 60)
        await wait_for(pilot, lambda: not app.writing.panel.running, 60)
        stem = tokens[0].text + top[j].text
        assert app.writing.editor.text.splitlines() == ("Once upon a time" + stem).splitlines()
        assert (
            message_log(app).of(GenerationFinished)[-1].done.prompt_text == app.writing.editor.text
        )


async def test_stalled_server_editor_stays_responsive_and_cancel_works(
    tiny_model_dir, tmp_path_factory
):
    long_model = build_long_model(tiny_model_dir, tmp_path_factory.mktemp("app-long"))
    proc = ServeProcess(long_model, _isolated_env(tmp_path_factory.mktemp("app-long-home")))
    try:
        app = WriterApp(engine_loader=remote_engine_loader(proc.url))
        async with run_app(app, size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 60)
            app.writing.overrides = {"max_new_tokens": 1000}
            await type_text(pilot, "Once")
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: any(app.writing.panel.texts), 60)
            proc.pause()  # the server stalls mid-stream
            await type_text(pilot, " more")  # the editor still takes keys
            assert app.writing.editor.text.endswith(" more")
            assert app.writing.panel.running
            await pilot.press("escape")
            await wait_for(pilot, lambda: not app.writing.panel.running, 5)

            def generating() -> bool:
                return any(w.group == "generate" and w.is_running for w in app.workers)

            await wait_for(pilot, lambda: not generating(), 5)  # the worker itself returned
    finally:
        proc.stop()


async def test_unreachable_server_is_a_notification():
    app = WriterApp(engine_loader=remote_engine_loader("http://127.0.0.1:9"))
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: notified(app, "cannot reach the server"), 30)
        assert app.writing.status.model_state == "error"
        await type_text(pilot, "Still writing")
        assert app.writing.editor.text == "Still writing"
