"""The models screen (f5): rename and delete fine-tunes, confirmed; base models untouched."""

from __future__ import annotations

import json

from tests.ui.test_app_support import ScriptedEngine, loader_for, wait_for
from writer.paths import models_dir
from writer.ui.app import WriterApp
from writer.ui.screens.confirm import ChoiceScreen
from writer.ui.screens.models import ModelsScreen
from writer.ui.screens.prompt import PromptScreen


def _finetune(name: str) -> None:
    folder = models_dir() / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": name, "base": "gpt2"}))


async def _open_models(pilot, app) -> ModelsScreen:
    await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
    await pilot.press("f5")
    await wait_for(pilot, lambda: getattr(app.screen, "models", None))
    return app.screen


async def test_rename_then_delete_a_finetune_from_the_models_screen():
    _finetune("alpha")
    _finetune("beta")
    app = WriterApp(model="base", engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test(size=(110, 35)) as pilot:
        screen = await _open_models(pilot, app)
        assert [m.name for m in screen.models] == ["alpha", "beta"]
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("ctrl+a", "ctrl+k", *"gamma", "enter")
        await wait_for(pilot, lambda: [m.name for m in screen.models] == ["beta", "gamma"])
        assert (models_dir() / "gamma" / "manifest.json").is_file()

        await pilot.press("d")  # beta is highlighted (first)
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("escape")  # not confirmed: nothing happens
        await wait_for(pilot, lambda: app.screen is screen)
        assert (models_dir() / "beta").is_dir()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.click("#choice-delete")
        await wait_for(pilot, lambda: [m.name for m in screen.models] == ["gamma"])
        assert not (models_dir() / "beta").exists()


async def test_models_screen_refuses_hub_names_and_the_model_in_use():
    _finetune("alpha")
    _finetune("beta")
    app = WriterApp(model="alpha", engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test(size=(110, 35)) as pilot:
        screen = await _open_models(pilot, app)
        await pilot.press("d")  # alpha: the model in use
        await pilot.pause()
        assert app.screen is screen and (models_dir() / "alpha").is_dir()
        assert any("switch to another one first" in n.message for n in app._notifications)
        await pilot.press("down", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("ctrl+a", "ctrl+k", *"gpt2", "enter")
        await wait_for(pilot, lambda: any("hub model" in n.message for n in app._notifications))
        assert (models_dir() / "beta").is_dir() and not (models_dir() / "gpt2").exists()
