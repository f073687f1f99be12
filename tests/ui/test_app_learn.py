"""Learning the author's taste in the app: the offer in the status bar, the learn key, the
progress, the switch to the learned model (and back with f5), and a stop that changes nothing."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, ProgressBar

from tests.ui.test_app_support import message_log, notices, notified, run_app, wait_for
from writer.config import Config
from writer.paths import models_dir
from writer.store import DraftStore
from writer.ui.app import WriterApp
from writer.ui.screens.learn import LearnDialog
from writer.ui.screens.models import ModelsScreen
from writer.ui.writing.learning import LearnProgressed


def _logged_draft(model: str) -> int:
    """A draft whose log holds 3 insertions by `model` of 3 candidates each (6 pairs)."""
    with DraftStore.open() as store:
        draft = store.create_draft("The fox")
        text = "The fox"
        for i in range(3):
            cands = [
                {"text": f" walked to the river bank number {i}."},
                {"text": " saw the ship."},
                {"text": " and the old woman told stories."},
            ]
            gid = store.generations.log(
                draft.id, "continue", {}, i, model, cands, prompt_tail=text[-200:], prompt=text
            )
            text += cands[0]["text"]
            store.generations.mark_inserted(gid, 0, text=text)
        return draft.id


def _loader(base: str, engine: Any, loaded: list[str]):
    """The tiny engine for `base`; any other name (the learned model) really loads."""

    def load(name: str, device: str | None) -> Any:
        loaded.append(name)
        if name == base:
            return engine
        from writer.engine import load_engine

        return load_engine(name, device="cpu", precision="fp32")

    return load


def _loaded(app: WriterApp, name: str) -> bool:
    """Whether model `name` is the app's and has loaded (the status bar says so)."""
    model = app.model
    return model.name == name and model.settled.is_set() and model.engine is not None


async def _insert_one(pilot, app) -> None:
    await pilot.press("end", "ctrl+g")
    panel = app.writing.panel
    await wait_for(pilot, lambda: panel.is_open and not panel.running, timeout=30)
    await pilot.press("tab", "1")
    await wait_for(pilot, lambda: not app.writing.panel.is_open)


async def _confirm(pilot, app, steps: str) -> str:
    await pilot.press("shift+f5")
    await wait_for(pilot, lambda: isinstance(app.screen, LearnDialog))
    dialog = app.screen
    dialog.query_one("#steps", Input).value = steps
    name = dialog.query_one("#name", Input).value
    await pilot.press("enter")  # in the name field: starts learning
    await wait_for(pilot, lambda: not isinstance(app.screen, LearnDialog))
    return name


async def test_the_offer_then_the_key_learns_and_the_draft_switches_to_the_new_model(
    isolated_user_dirs, tiny_model_dir, tiny_engine
) -> None:
    base = str(tiny_model_dir)
    draft_id = _logged_draft(base)
    loaded: list[str] = []
    app = WriterApp(
        model=base, engine_loader=_loader(base, tiny_engine, loaded), config=Config(learn_after=6)
    )
    async with run_app(app, size=(120, 30)) as pilot:
        status = app.writing.status
        await wait_for(pilot, lambda: status.model_state == "ready")
        assert status.learn == ""
        await _insert_one(pilot, app)
        key = app.get_key_display(
            next(b for b in app.writing.BINDINGS if getattr(b, "action", "") == "learn")
        )
        assert status.learn == f"learn from your picks: {key}"
        assert f"learn from your picks: {key}" in str(status.render())
        await wait_for(pilot, lambda: notified(app, f"press {key}"))

        name = await _confirm(pilot, app, "2")
        assert name == f"{tiny_model_dir.name}-taste"
        await wait_for(pilot, lambda: notified(app, f"Learned {name}"), timeout=120)
        steps = [m.step for m in message_log(app).of(LearnProgressed)]
        assert steps and steps[-1] == 2 and app.writing.learning.panel is None
        await wait_for(pilot, lambda: notified(app, f"Learned {name}"))
        assert notified(app, "preference accuracy") and notified(app, f"back to {base}")
        await wait_for(pilot, lambda: _loaded(app, name))
        assert loaded[-1] == name and (models_dir() / name / "manifest.json").is_file()
        await wait_for(pilot, lambda: status.model_state == "ready")
        assert status.learn == ""  # learned: no more offer

        # f5 lists the new model next to the old one; the old one is one enter away.
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        dialog = app.screen
        await wait_for(pilot, lambda: any(m.name == name for m in dialog.models))
        dialog.query_one("#name", Input).value = base
        dialog.query_one("#name", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: _loaded(app, base))
        await pilot.press("ctrl+q")
    with DraftStore.open() as store:
        assert store.get_draft(draft_id).model in (None, base)  # the switch back is remembered


async def test_the_key_again_stops_learning_the_model_stays_and_the_same_name_continues(
    isolated_user_dirs, tiny_model_dir, tiny_engine
) -> None:
    from writer.training import checkpoint
    from writer.training.learn import has_checkpoint

    base = str(tiny_model_dir)
    _logged_draft(base)
    loaded: list[str] = []
    app = WriterApp(
        model=base, engine_loader=_loader(base, tiny_engine, loaded), config=Config(learn_after=6)
    )
    async with run_app(app, size=(120, 30)) as pilot:
        status = app.writing.status
        log = message_log(app)
        await wait_for(pilot, lambda: status.model_state == "ready")
        await _insert_one(pilot, app)
        name = await _confirm(pilot, app, "60")
        await wait_for(pilot, lambda: bool(log.of(LearnProgressed)), timeout=60)
        bar = app.writing.query_one("#learn-progress").query_one(ProgressBar)
        assert bar.total == 60 and bar.progress >= 1  # the bar above the status line
        await pilot.press("shift+f5")  # the same key stops it
        await wait_for(pilot, lambda: notified(app, "Learning stopped"), timeout=60)
        assert app.writing.learning.panel is None
        stopped_at = log.of(LearnProgressed)[-1].step
        assert stopped_at < 60
        assert app.model.name == base and loaded == [base]
        assert not (models_dir() / name).exists() and has_checkpoint(name)
        assert any(checkpoint.folder(name).glob("trainer/checkpoint-*"))  # the trainer's state
        assert status.learn.startswith("learn from your picks")  # still offered

        # The same key and name (the default again) continue the run where it stopped.
        seen = len(log.of(LearnProgressed))
        assert await _confirm(pilot, app, "") == name
        await wait_for(pilot, lambda: notified(app, f"Learned {name}"), timeout=120)
        steps = [m.step for m in log.of(LearnProgressed)[seen:]]
        assert steps[0] > stopped_at and steps[-1] == 60
        await wait_for(pilot, lambda: _loaded(app, name))
        assert not has_checkpoint(name)
        await pilot.press("ctrl+q")


async def test_a_failed_run_is_one_notification_and_nothing_changes(
    isolated_user_dirs, tiny_engine
) -> None:
    _logged_draft("no-such-model")
    app = WriterApp(
        model="no-such-model",
        engine_loader=lambda name, device: tiny_engine,
        config=Config(learn_after=0),
    )
    async with run_app(app, size=(120, 30)) as pilot:
        status = app.writing.status
        await wait_for(pilot, lambda: status.model_state == "ready")
        name = await _confirm(pilot, app, "2")  # the key works before any offer, too
        await wait_for(pilot, lambda: notified(app, "Learning failed"), timeout=60)
        assert app.writing.learning.panel is None and app.model.name == "no-such-model"
        assert not (models_dir() / name).exists() and status.learn == ""
        failures = [n for n in notices(app) if "Learning failed" in n]
        assert len(failures) == 1 and "\n" not in failures[0]
        await pilot.press("ctrl+q")


def test_the_default_name_and_the_base_of_a_learned_model(isolated_user_dirs) -> None:
    import json

    from writer.ui.screens.learn import default_name
    from writer.ui.writing.learning import learning_base

    assert default_name("gpt2") == "gpt2-taste"
    assert default_name("/models/My Model/") == "My-Model-taste"
    folder = models_dir() / "gpt2-taste"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"base": "gpt2", "method": "lora"}))
    assert default_name("gpt2") == "gpt2-taste-2"  # taken: numbered
    assert default_name("gpt2-taste") == "gpt2-taste-2"  # not gpt2-taste-taste
    # A LoRA fine-tune cannot take a second adapter: learning starts again from its base.
    assert learning_base("gpt2-taste") == "gpt2"
    assert learning_base("gpt2") == "gpt2"
    (folder / "manifest.json").write_text(json.dumps({"base": "gpt2", "method": "full"}))
    assert learning_base("gpt2-taste") == "gpt2-taste"  # a whole model learns on top
