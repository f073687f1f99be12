"""Every location writer uses, resolved when asked (never at import time).

Linux honours XDG_DATA_HOME / XDG_CONFIG_HOME / XDG_CACHE_HOME through platformdirs, which is how
the tests keep the user's real data out of reach.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "writer"


def data_dir() -> Path:
    """Drafts database and fine-tuned models."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """config.toml, presets.toml and the user's themes/."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def database_path() -> Path:
    return data_dir() / "writer.db"


def models_dir() -> Path:
    """Fine-tuned models, one folder per name (`writer finetune --name NAME`)."""
    return data_dir() / "models"


def config_path() -> Path:
    return config_dir() / "config.toml"


def user_presets_path() -> Path:
    return config_dir() / "presets.toml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def log_path() -> Path:
    """Where unexpected errors are written in full, so the screen only ever shows one line."""
    return cache_dir() / "writer.log"


def ensure_private_dir(folder: Path) -> Path:
    """Create `folder` and its missing parents as 0700 whatever the umask (drafts and models are
    private); folders that already exist keep the mode their owner gave them. Raises OSError."""
    missing: list[Path] = []
    here = folder
    while not os.path.lexists(here) and here != here.parent:
        missing.append(here)
        here = here.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another writer process: it chose the mode
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; this only adds owner bits
    if not folder.is_dir():
        raise NotADirectoryError(20, "not a folder", str(folder))
    return folder


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, resolved from the environment now, as huggingface_hub does.

    huggingface_hub reads HF_HOME once, when it is imported; writer passes this path explicitly
    instead, so a later change of HF_HOME (the tests' per-test cache) is honoured.
    """
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    xdg_cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    home = os.environ.get("HF_HOME") or os.path.join(xdg_cache, "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"
