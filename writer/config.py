"""User settings: config.toml in the config dir, validated once, with defaults.

Example::

    model = "gpt2"
    preset = "balanced"
    theme = "writer-paper"
    candidates = 3
    revisions_keep = 200
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writer.errors import WriterError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass
class Config:
    model: str = "gpt2"
    preset: str = "balanced"
    theme: str = "writer-dark"
    candidates: int = 3
    device: str | None = None
    # Revisions kept per draft (oldest coalesced revisions are pruned first).
    revisions_keep: int = 200
    # Seconds of activity folded into one revision.
    revision_interval: int = 60

    def validate(self) -> Config:
        if not 1 <= int(self.candidates) <= 9:
            raise WriterError(f"candidates must be 1 to 9; got {self.candidates!r}")
        if int(self.revisions_keep) < 1:
            raise WriterError(f"revisions_keep must be at least 1; got {self.revisions_keep!r}")
        if int(self.revision_interval) < 1:
            raise WriterError(
                f"revision_interval must be at least 1 second; got {self.revision_interval!r}"
            )
        return self


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}


def load_config(path: Path | None = None) -> Config:
    """Read config.toml; a missing file gives the defaults, a broken one a WriterError."""
    if path is None:
        from writer.paths import config_path

        path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise WriterError(f"cannot read config file {path}: {exc}; fix or remove it") from None
    unknown = set(data) - set(FIELD_TYPES)
    if unknown:
        raise WriterError(
            f"config file {path}: unknown setting {sorted(unknown)[0]!r}; "
            f"known: {', '.join(FIELD_TYPES)}"
        )
    try:
        return Config(**data).validate()
    except (TypeError, ValueError) as exc:
        raise WriterError(f"config file {path}: {exc}") from None


def save_config(config: Config, path: Path | None = None) -> None:
    """Write config.toml atomically (temp file + rename), keeping only non-default settings.

    Written by hand because tomllib only reads; our settings are flat strings and numbers, and
    JSON string escapes are valid TOML basic strings.
    """
    if path is None:
        from writer.paths import config_path

        path = config_path()
    defaults = Config()
    lines = []
    for name in FIELD_TYPES:
        value: Any = getattr(config, name)
        if value is None or value == getattr(defaults, name):
            continue
        lines.append(f"{name} = {json.dumps(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + ("\n" if lines else ""))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
