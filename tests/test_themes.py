"""Themes: bundled files load, user files load, broken files are reported, the choice persists."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_writer
from tests.ui.test_app_support import ScriptedEngine, loader_for
from writer.config import load_config
from writer.paths import config_path, user_themes_dir
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
        assert app.writing.editor.text == "a"
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


# Each of these once crashed the app (a CSS error dump or a traceback).
BAD_THEMES = {
    "bad-variable": '[variables]\nfooter-key-foreground = "nonsense"\n',
    "bad-text-style": '[variables]\nblock-cursor-text-style = "blink reverse nonsense"\n',
    "huge-spread": "luminosity_spread = 1e308\n",
    "bad-primary-variable": '[variables]\nprimary = "nonsense"\n',
    "bad-token": '[variables]\nscrollbar = "rgba(1,2)"\n',
    "negative-alpha": "text_alpha = -1\n",
}


def _write_bad_themes(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in BAD_THEMES.items():
        (folder / f"{name}.toml").write_text(f'name = "{name}"\nprimary = "#336699"\n' + body)
    (folder / "fine.toml").write_text('name = "fine"\nprimary = "#336699"\n')


def test_every_bad_theme_is_skipped_with_its_reason(tmp_path: Path):
    _write_bad_themes(tmp_path)
    os.mkfifo(tmp_path / "pipe.toml")  # would block the app's start if it were read
    loaded = load_themes(tmp_path)
    names = {theme.name for theme in loaded.themes}
    assert "fine" in names and not names & set(BAD_THEMES)
    assert set(loaded.broken) == {*BAD_THEMES, "pipe"}
    assert "footer-key-foreground = 'nonsense' is not accepted" in loaded.broken["bad-variable"]
    assert "block-cursor-text-style" in loaded.broken["bad-text-style"]
    assert "luminosity_spread' must be a number from 0 to 1" in loaded.broken["huge-spread"]
    assert all("\n" not in error for error in loaded.errors)


async def test_bad_theme_asked_for_starts_the_app_with_one_notification(tmp_path: Path):
    _write_bad_themes(user_themes_dir())
    for name in BAD_THEMES:
        # A store of its own per app: the next one must not reopen this one's draft.
        app = WriterApp(
            theme=name,
            engine_loader=loader_for(ScriptedEngine()),
            store_path=tmp_path / name / "writer.db",
        )
        async with app.run_test() as pilot:
            await pilot.press("a")
            assert app.writing.editor.text == "a"
            assert app.theme == "writer-dark"
            notes = [n for n in app._notifications if n.title == "Themes"]
            assert len(notes) == 1 and name in notes[0].message
            assert name not in app.available_themes  # so the palette never offers it
        assert app.return_code in (None, 0) and app._exception is None


def test_bad_theme_at_the_command_line_is_one_line(isolated_user_dirs):
    _write_bad_themes(user_themes_dir())
    proc = run_writer("--theme", "bad-text-style", env=isolated_user_dirs)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("writer: error: theme 'bad-text-style' cannot be used: ")


async def test_theme_from_the_command_line_is_not_saved():
    """`writer --theme writer-light` must not rewrite config.toml."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# mine\ncandidates = 4\n", encoding="utf-8")
    app = WriterApp(theme="writer-light", engine_loader=loader_for(ScriptedEngine()))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert app.theme == "writer-light"
    assert path.read_text(encoding="utf-8") == "# mine\ncandidates = 4\n"


def test_many_user_themes_load_fast(tmp_path: Path):
    """300 theme files took 20 s to check (each parsed all of Textual's widget CSS); now only
    the CSS that uses a theme's own [variables] is parsed. The bound is loose for slow CI."""
    import time

    for i in range(150):
        text = f'name = "t{i}"\ndark = true\nprimary = "#{i:02x}a2f7"\nbackground = "#16181f"\n'
        if i % 2:
            text += '[variables]\nfooter-key-foreground = "#7aa2f7"\n'
        (tmp_path / f"t{i}.toml").write_text(text, encoding="utf-8")
    start = time.perf_counter()
    loaded = load_themes(tmp_path)
    assert time.perf_counter() - start < 5.0
    assert not loaded.errors and {f"t{i}" for i in range(150)} <= {t.name for t in loaded.themes}
