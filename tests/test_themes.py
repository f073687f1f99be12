"""Themes: bundled files load, user files load, broken files are reported, the choice persists."""

from __future__ import annotations

from pathlib import Path

from tests.test_app_support import ScriptedEngine, loader_for
from writer.config import load_config
from writer.paths import user_themes_dir
from writer.themes import bundled_theme_files, load_themes
from writer.ui.app import WriterApp


def test_bundled_themes_dark_light_and_paper_load_cleanly(tmp_path: Path):
    loaded = load_themes(tmp_path / "none")
    assert loaded.errors == []
    by_name = {theme.name: theme for theme in loaded.themes}
    assert {"writer-dark", "writer-light", "writer-paper"} <= set(by_name)
    assert by_name["writer-dark"].dark and not by_name["writer-light"].dark
    assert all(path.suffix == ".toml" for path in bundled_theme_files())


def test_user_theme_loads_and_broken_ones_name_file_and_problem(tmp_path: Path):
    (tmp_path / "mine.toml").write_text('primary = "#112233"\nbackground = "#000000"\n')
    (tmp_path / "bad-toml.toml").write_text("primary = \n")
    (tmp_path / "bad-colour.toml").write_text('primary = "blurple-ish"\n')
    (tmp_path / "no-primary.toml").write_text("dark = true\n")
    loaded = load_themes(tmp_path)
    assert "mine" in {theme.name for theme in loaded.themes}
    errors = "\n".join(loaded.errors)
    assert len(loaded.errors) == 3
    assert "bad-toml.toml: not valid TOML" in errors
    assert "bad-colour.toml: 'primary' is not a colour" in errors
    assert "no-primary.toml: missing the required colour 'primary'" in errors


async def test_broken_theme_gives_one_notification_and_the_app_starts():
    folder = user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "broken.toml").write_text("this is not toml")
    (folder / "also-broken.toml").write_text("primary = 3\n")
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test() as pilot:
        await pilot.press("a")
        theme_notes = [n for n in app._notifications if n.title == "Themes"]
        assert len(theme_notes) == 1
        assert "broken.toml" in theme_notes[0].message
        assert "also-broken.toml" in theme_notes[0].message
        assert app.editor.text == "a"
        assert app.theme == "writer-dark"


async def test_switching_theme_persists_in_config():
    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test() as pilot:
        app.theme = "writer-paper"  # what the palette's theme command does
        await pilot.pause()
    assert load_config().theme == "writer-paper"
    again = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with again.run_test():
        assert again.theme == "writer-paper"
