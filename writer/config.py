"""User settings: config.toml in the config dir, validated once, with defaults.

Example::

    model = "gpt2"
    preset = "balanced"
    theme = "writer-paper"
    candidates = 3
    revisions_keep = 200
    inline_suggestion = true   # a greyed suggestion after a pause; right arrow accepts
    suggestion_pause = 1.0
    column = 72       # the page's measure in characters (0: the full width)
    focus = false     # focus mode (hide the bars, dim all but the paragraph being written)
    recall_tokens = 128   # the cap on recalled passages (0: recall off; docs/recall.md)
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writer.errors import WriterError

# name -> (type, low, high) for whole numbers; texts are non-empty strings.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "candidates": (1, 9),
    "revisions_keep": (1, 100_000),
    "revision_interval": (1, 86_400),
    "learn_after": (0, 1_000_000),
}
_TEXT_FIELDS = ("model", "preset", "theme", "device")
CONFIG_FILE_LIMIT = 1024 * 1024
COLUMN_MIN, COLUMN_MAX = 20, 400
RECALL_TOKENS_MAX = 8192  # as writer.engine.story.context.MAX_RECALL_TOKENS
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]{1,3})?)$")  # as `--device` accepts


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
    # Where candidates come from: None or "local" (the model above, on this machine) or an
    # OpenAI-compatible server's URL (vLLM, llama.cpp, `writer serve`); its API key comes
    # from the WRITER_API_KEY environment variable, never from this file.
    engine: str | None = None
    # A single greyed suggestion at the cursor after `suggestion_pause` seconds without typing
    # (writer.ui.writing.suggestion): right arrow accepts it, any other key dismisses it.
    # Off by default.
    inline_suggestion: bool = False
    suggestion_pause: float = 1.0
    # The page: the text wraps at `column` characters, centred (0: the terminal's full width);
    # focus mode hides the bars and dims every paragraph but the one being written.
    column: int = 72
    focus: bool = False
    # Preference pairs (a pick and each candidate passed over) of one draft and model after
    # which the app suggests `writer learn`, once per session; 0: never (docs/learning.md).
    learn_after: int = 200
    # Recall (docs/recall.md): the cap on passages recalled from the whole manuscript, in
    # tokens; None: one eighth of the model's window; 0: recall off.
    recall_tokens: int | None = None

    def validate(self) -> Config:
        """Check every setting's type and range; raise a WriterError naming the fix."""
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if name == "device" and value is None:
                continue
            if not isinstance(value, str) or not value.strip() or "\0" in value:
                raise WriterError(f"{name} must be a non-empty text in quotes; got {value!r}")
        if self.device is not None and not _DEVICE_RE.match(self.device):
            raise WriterError(f"device must be cpu, cuda, cuda:N, mps or auto; got {self.device!r}")
        if self.engine is not None:
            from urllib.parse import urlsplit

            url = urlsplit(self.engine) if isinstance(self.engine, str) else None
            if self.engine != "local" and (
                url is None or url.scheme not in ("http", "https") or not url.hostname
            ):
                raise WriterError(
                    'engine must be "local" or a server URL such as "http://127.0.0.1:8000"; '
                    f"got {self.engine!r}"
                )
        if not isinstance(self.inline_suggestion, bool):
            raise WriterError(
                f"inline_suggestion must be true or false; got {self.inline_suggestion!r}"
            )
        pause = self.suggestion_pause
        if isinstance(pause, bool) or not isinstance(pause, int | float) or not 0.2 <= pause <= 60:
            raise WriterError(
                f"suggestion_pause must be a number of seconds from 0.2 to 60; got {pause!r}"
            )
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise WriterError(
                    f"{name} must be a whole number from {low} to {high}; got {value!r}"
                )
        check_recall_tokens(self.recall_tokens, "recall_tokens")
        if not isinstance(self.focus, bool):
            raise WriterError(f"focus must be true or false; got {self.focus!r}")
        column = self.column
        if (
            isinstance(column, bool)
            or not isinstance(column, int)
            or not (column == 0 or COLUMN_MIN <= column <= COLUMN_MAX)
        ):
            raise WriterError(
                f"column must be 0 (full width) or a whole number of characters from "
                f"{COLUMN_MIN} to {COLUMN_MAX}; got {column!r}"
            )
        return self


def check_recall_tokens(value: Any, name: str) -> int | None:
    """A recall cap as config.toml, presets.toml and flags give it: None (the default) or a
    whole number from 0 (off) to RECALL_TOKENS_MAX; else a one-line WriterError naming `name`."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= RECALL_TOKENS_MAX
    ):
        raise WriterError(
            f"{name} must be a whole number of tokens from 0 (recall off) to "
            f"{RECALL_TOKENS_MAX}; got {value!r}"
        )
    return value


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}


def _read_toml(path: Path, what: str) -> str | None:
    """The text of a settings file, or None when it does not exist (a BOM is dropped)."""
    from writer.textfiles import read_text_file

    if not os.path.lexists(path):
        return None
    try:
        return read_text_file(path, purpose=f"read {what}", limit=CONFIG_FILE_LIMIT)
    except WriterError as exc:
        try:
            os.stat(path)
        except FileNotFoundError:  # a dangling symlink: as if there were no file
            return None
        except OSError as err:
            if err.errno == errno.ELOOP:  # a link that leads back to itself: say so
                raise WriterError(
                    f"{what} {path} is a symbolic link loop; fix or remove the link"
                ) from None
        raise WriterError(f"{exc}; fix or remove it") from None


def load_config(path: Path | None = None) -> Config:
    """Read config.toml; a missing file gives the defaults, a broken one a WriterError."""
    if path is None:
        from writer.paths import config_path

        path = config_path()
    raw = _read_toml(path, "config file")
    if raw is None:
        return Config()
    from writer.textfiles import parse_toml

    data = parse_toml(raw, f"config file {path}")
    unknown = set(data) - set(FIELD_TYPES)
    if unknown:
        raise WriterError(
            f"config file {path}: unknown setting {sorted(unknown)[0]!r}; "
            f"known: {', '.join(FIELD_TYPES)}"
        )
    try:
        return Config(**data).validate()
    except WriterError as exc:
        raise WriterError(f"config file {path}: {exc}") from None


def save_config(
    config: Config, path: Path | None = None, *, only: tuple[str, ...] | None = None
) -> None:
    """Write settings to config.toml, changing nothing else in it.

    `only` names the settings to write (default: all of them; a default value is removed from
    the file rather than written). Comments, order and anything else in the file are kept
    (tomlkit). A symlinked config.toml (dotfiles) stays a symlink: its target is replaced,
    atomically (temp file + rename), keeping the target's permissions.
    """
    import tomlkit

    if path is None:
        from writer.paths import config_path

        path = config_path()
    config.validate()
    target = Path(os.path.realpath(path))
    raw = _read_toml(target, "config file")
    try:
        document = tomlkit.parse(raw) if raw is not None else tomlkit.document()
    except Exception as exc:  # tomlkit's parse errors: refuse to overwrite what we can't read
        raise WriterError(
            f"config file {path} is not valid TOML ({exc}); fix or remove it"
        ) from None
    defaults = Config()
    for name in only or tuple(FIELD_TYPES):
        value: Any = getattr(config, name)
        if value is None or value == getattr(defaults, name):
            document.pop(name, None)
        else:
            document[name] = value
    text = tomlkit.dumps(document)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.stat(target).st_mode & 0o777
    except OSError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
