"""Themes as data: TOML files loaded into `textual.theme.Theme` objects.

Bundled themes live in the top-level `themes/` folder (installed as the package
`writer._themes`); the user's own go in the config dir's `themes/`. A broken file never stops the
app: it is skipped and reported, so the caller can show every problem in one notification.

A theme file::

    name = "my-theme"        # optional, defaults to the file name
    dark = true
    primary = "#7aa2f7"      # required; every other colour is optional
    background = "#16181f"
    [variables]              # optional Textual design variables
    footer-key-foreground = "#7aa2f7"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from textual.color import Color, ColorParseError
from textual.theme import Theme

COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
KNOWN_FIELDS = {*COLOR_FIELDS, "name", "dark", "luminosity_spread", "text_alpha", "variables"}


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the problem."""


@dataclass
class ThemeLoad:
    """Themes that loaded, and one line per file that did not (`path: problem`)."""

    themes: list[Theme] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def theme_from_dict(data: dict[str, Any], default_name: str) -> Theme:
    """Build a Theme from a parsed theme file, checking names, types and colours."""
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise ThemeFileError(
            f"unknown key {unknown[0]!r}; known: {', '.join(sorted(KNOWN_FIELDS))}"
        )
    if "primary" not in data:
        raise ThemeFileError("missing the required colour 'primary'")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError("'name' must be a non-empty text")
    kwargs: dict[str, Any] = {"name": name.strip()}
    for key in COLOR_FIELDS:
        if key in data:
            value = data[key]
            if not isinstance(value, str):
                raise ThemeFileError(f'{key!r} must be a colour text like "#7aa2f7"')
            try:
                Color.parse(value)
            except ColorParseError:
                raise ThemeFileError(f"{key!r} is not a colour: {value!r}") from None
            kwargs[key] = value
    if "dark" in data:
        if not isinstance(data["dark"], bool):
            raise ThemeFileError("'dark' must be true or false")
        kwargs["dark"] = data["dark"]
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            if not isinstance(data[key], (int, float)) or isinstance(data[key], bool):
                raise ThemeFileError(f"{key!r} must be a number")
            kwargs[key] = float(data[key])
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeFileError("[variables] must be a table of texts")
    kwargs["variables"] = dict(variables)
    return Theme(**kwargs)


def load_theme_file(path: Path) -> Theme:
    """One theme file; raises ThemeFileError with the reason."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"cannot read it ({exc})") from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"not valid TOML ({exc})") from None
    return theme_from_dict(data, path.stem)


def bundled_theme_files() -> list[Path]:
    """The theme files shipped with writer (installed package data, else the repo's themes/)."""
    try:
        folder = resources.files("writer._themes")
        files = [Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")]
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        repo_themes = Path(__file__).resolve().parent.parent / "themes"
        files = list(repo_themes.glob("*.toml")) if repo_themes.is_dir() else []
    return sorted(files)


def load_themes(user_dir: Path | None = None) -> ThemeLoad:
    """Bundled themes, then the user's (a user theme may replace a bundled one by name)."""
    if user_dir is None:
        from writer.paths import user_themes_dir

        user_dir = user_themes_dir()
    result = ThemeLoad()
    files = bundled_theme_files()
    try:
        files += sorted(user_dir.glob("*.toml")) if user_dir.is_dir() else []
    except OSError as exc:
        result.errors.append(f"{user_dir}: cannot list it ({exc})")
    for path in files:
        try:
            result.themes.append(load_theme_file(path))
        except ThemeFileError as exc:
            result.errors.append(f"{path}: {exc}")
    return result
