"""config.toml and presets.toml: every key's type is checked, saving keeps the user's file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_writer
from writer.config import Config, load_config, save_config
from writer.errors import WriterError
from writer.paths import config_path, user_presets_path
from writer.presets import load_user_presets

BAD_CONFIGS = {
    "candidates = 3.5": "candidates must be a whole number from 1 to 9",
    "candidates = true": "candidates must be a whole number",
    "candidates = 0": "candidates must be a whole number from 1 to 9",
    'candidates = "3"': "candidates must be a whole number",
    "model = 5": "model must be a non-empty text",
    'model = ""': "model must be a non-empty text",
    "model = {x = 1}": "model must be a non-empty text",
    "theme = [1]": "theme must be a non-empty text",
    "preset = 1.5": "preset must be a non-empty text",
    "device = 0": "device must be a non-empty text",
    "revisions_keep = 99999999999999999": "revisions_keep must be a whole number",
    "revision_interval = -1": "revision_interval must be a whole number",
    "revision_interval = nan": "revision_interval must be a whole number",
    "[model]\nname = 'x'": "model must be a non-empty text",
    "colour = 'red'": "unknown setting 'colour'",
    "model = ": "is not valid TOML",
    'inline_suggestion = "yes"': "inline_suggestion must be true or false",
    "inline_suggestion = 1": "inline_suggestion must be true or false",
    "suggestion_pause = 0": "suggestion_pause must be a number of seconds from 0.2 to 60",
    "suggestion_pause = nan": "suggestion_pause must be a number of seconds",
    "suggestion_pause = true": "suggestion_pause must be a number of seconds",
}


def test_inline_suggestion_is_off_by_default_and_takes_whole_or_decimal_seconds() -> None:
    assert Config().inline_suggestion is False and Config().suggestion_pause == 1.0
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("inline_suggestion = true\nsuggestion_pause = 2\n", encoding="utf-8")
    config = load_config()
    assert config.inline_suggestion is True and config.suggestion_pause == 2


@pytest.mark.parametrize("text", BAD_CONFIGS)
def test_every_config_key_is_type_checked(text: str) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(WriterError, match=BAD_CONFIGS[text].replace("[", r"\[")):
        load_config()


def test_bad_config_is_one_line_at_the_command_line(isolated_user_dirs) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("candidates = 3.5\n", encoding="utf-8")
    proc = run_writer("generate", "Hi", env=isolated_user_dirs)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "config file" in lines[0] and "candidates must be a whole number" in lines[0]


def test_bom_and_a_symlink_to_a_fifo_or_nothing() -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbfcandidates = 5\n")
    assert load_config().candidates == 5
    path.unlink()
    path.symlink_to(path.parent / "missing.toml")  # a dangling dotfiles link: defaults
    assert load_config() == Config()
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(WriterError, match="pipe"):
        load_config()


def test_saving_keeps_comments_unknown_formatting_and_the_symlink(tmp_path: Path) -> None:
    """The app saves one setting; everything else in the file is the user's."""
    dotfiles = tmp_path / "dotfiles" / "writer.toml"
    dotfiles.parent.mkdir()
    original = '# my settings\nmodel = "gpt2"   # the small one\n\ncandidates = 4\n'
    dotfiles.write_text(original, encoding="utf-8")
    dotfiles.chmod(0o640)
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(dotfiles)

    config = load_config()
    config.theme = "writer-paper"
    save_config(config, only=("theme",))
    assert path.is_symlink() and path.resolve() == dotfiles
    assert dotfiles.read_text(encoding="utf-8") == original + 'theme = "writer-paper"\n'
    assert dotfiles.stat().st_mode & 0o777 == 0o640
    assert load_config().theme == "writer-paper" and load_config().candidates == 4

    config.theme = "writer-dark"  # back to the default: the key goes, the comments stay
    save_config(config, only=("theme",))
    assert dotfiles.read_text(encoding="utf-8") == original


def test_saving_refuses_to_replace_a_file_it_cannot_read() -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("model = \n", encoding="utf-8")
    with pytest.raises(WriterError, match="not valid TOML"):
        save_config(Config(theme="writer-paper"), only=("theme",))
    assert path.read_text(encoding="utf-8") == "model = \n"


BAD_PRESETS = {
    "[noir]\ntemperature = 'hot'": "temperature must be a number",
    "[noir]\ntemperature = '0.5'": "temperature must be a number",
    "[noir]\ntop_k = 3.5": "top_k must be a whole number",
    "[noir]\ntop_k = 99999999999999999999": "top_k must be",
    "[noir]\nmax_new_tokens = inf": "max_new_tokens",
    "[noir]\nstop = 5": "stop must be",
    "[noir]\nstop = []": "stop must be",
    "[noir]\ndescription = {x = 1}": "description must be a text",
    "[noir]\nbase = 5": "base must be a preset name",
    "[noir]\nbase = 'nope'": "unknown base",
    "[noir]\ncolour = 1": "unknown parameter 'colour'",
    "noir = 1": "must be a table of parameters",
    '[""]\ntemperature = 0.5': "preset name '' must be",
    "[noir": "not valid TOML",
}


@pytest.mark.parametrize("text", BAD_PRESETS)
def test_every_preset_value_is_type_checked(text: str) -> None:
    path = user_presets_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(WriterError, match=BAD_PRESETS[text]):
        load_user_presets()


def test_presets_with_a_bom_load() -> None:
    path = user_presets_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'\xef\xbb\xbf[noir]\nbase = "precise"\ntemperature = 0.5\n')
    assert load_user_presets()["noir"].params.temperature == 0.5


def test_config_device_must_be_a_device() -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('device = "gpu"\n', encoding="utf-8")
    with pytest.raises(WriterError, match="device must be cpu, cuda, cuda:N, mps or auto"):
        load_config()
