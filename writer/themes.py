"""Themes as data: TOML files loaded into `textual.theme.Theme` objects.

Bundled themes live in the top-level `themes/` folder (installed as the package
`writer._themes`); the user's own go in the config dir's `themes/`. A broken file never stops the
app: it is skipped and reported, so the caller can show every problem in one notification.

Every user theme is built in a throwaway stylesheet with the CSS of all of Textual's widgets
before it is offered (`theme_problem`): Textual reports a bad value only when it applies a theme,
as a CSS error dump or a traceback that ends the app.

A theme file::

    name = "my-theme"        # optional, defaults to the file name
    dark = true
    primary = "#7aa2f7"      # required; every other colour is optional
    background = "#16181f"
    [variables]              # optional Textual design variables
    footer-key-foreground = "#7aa2f7"
    [markdown]               # optional: how `.md` texts look (see docs/configuration.md)
    heading = "bold #7aa2f7"
    note = "italic #5c6370"
"""

from __future__ import annotations

import functools
import re
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
THEME_FILE_LIMIT = 1024 * 1024
KNOWN_FIELDS = {
    *COLOR_FIELDS,
    *("name", "dark", "luminosity_spread", "text_alpha", "variables", "markdown"),
}
MARKDOWN_KINDS = ("heading", "emphasis", "strong", "quote", "note")


@dataclass
class WriterTheme(Theme):
    """A Textual theme with the page's Markdown styles (Rich style texts by kind)."""

    markdown: dict[str, str] = field(default_factory=dict)


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the problem."""


@dataclass
class ThemeLoad:
    """Themes that loaded, and one line per file that did not (`path: problem`)."""

    themes: list[Theme] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # theme name -> the error line of its file, so a request for a broken theme can say why
    broken: dict[str, str] = field(default_factory=dict)


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
            value = data[key]
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not 0 <= value <= 1
            ):
                raise ThemeFileError(f"{key!r} must be a number from 0 to 1; got {value!r}")
            kwargs[key] = float(value)
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeFileError("[variables] must be a table of texts")
    kwargs["variables"] = dict(variables)
    kwargs["markdown"] = _markdown_styles(data.get("markdown", {}))
    return WriterTheme(**kwargs)


def _markdown_styles(table: object) -> dict[str, str]:
    """The `[markdown]` table: each kind a Rich style text such as "bold #7aa2f7"."""
    from rich.errors import StyleSyntaxError
    from rich.style import Style

    if not isinstance(table, dict):
        raise ThemeFileError("[markdown] must be a table of style texts")
    for key, value in table.items():
        if key not in MARKDOWN_KINDS:
            raise ThemeFileError(
                f"[markdown] unknown key {key!r}; known: {', '.join(MARKDOWN_KINDS)}"
            )
        if not isinstance(value, str):
            raise ThemeFileError(f'[markdown] {key} must be a style text like "bold #7aa2f7"')
        try:
            Style.parse(value)
        except StyleSyntaxError as exc:
            raise ThemeFileError(f"[markdown] {key} = {value!r} is not a style ({exc})") from None
    return dict(table)


@functools.cache
def _widget_css() -> list[tuple[str, str]]:
    """(origin, DEFAULT_CSS) of the App and of every widget Textual ships (imported on demand);
    computed once per process."""
    import textual.command
    import textual.widgets
    from textual.app import App
    from textual.widget import Widget

    for name in textual.widgets.__all__:  # the package imports its widgets lazily
        getattr(textual.widgets, name)
    assert textual.command  # imported for its palette widgets' CSS
    seen: list[type] = [App]
    todo: list[type] = [Widget]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return [
        (f"{cls.__module__}.{cls.__qualname__}", cls.__dict__["DEFAULT_CSS"])
        for cls in seen
        if isinstance(cls.__dict__.get("DEFAULT_CSS"), str)
    ]


def _css_problem(theme: Theme, sources: list[tuple[str, str]]) -> str | None:
    from rich.text import Text
    from textual.css.stylesheet import Stylesheet, StylesheetParseError

    try:
        variables = {**theme.to_color_system().generate(), **theme.variables}
        sheet = Stylesheet(variables=variables)
        for origin, css in sources:
            sheet.add_source(css, read_from=(origin, ""), is_default_css=True)
        sheet.parse()
    except StylesheetParseError as exc:
        for rule in exc.errors.rules:
            for token, message in rule.errors:
                summary = getattr(message, "summary", message)
                text = Text.from_markup(str(summary)).plain
                variable = getattr(getattr(token, "referenced_by", None), "name", None)
                if variable:
                    return f"${variable} = {token.value!r}: {text}"
                return text
        return "Textual cannot use it"
    except Exception as exc:  # NaN colours, tokenizer errors...: whatever it is, not usable
        lines = str(exc).strip().splitlines()
        return f"Textual cannot use it ({lines[0] if lines else type(exc).__name__})"
    return None


def theme_problem(theme: Theme) -> str | None:
    """None if Textual can apply `theme`, else what is wrong, in one line.

    The theme's colours and variables are generated and the Textual widget CSS that uses the
    theme's own `[variables]` is parsed with them, in a stylesheet that is then thrown away;
    nothing in it can reach the app. Colours are valid once parsed, and the CSS that uses only
    generated colour variables is the same for every theme (the bundled themes' tests parse all
    of it), so only the CSS that names one of the theme's variables can fail: parsing just that
    made 300 user themes load in 0.2 s instead of 20 s (1.0 s when each has [variables]),
    measured on a shared 2-core x86 VM.
    """
    sources = _sources_using(theme.variables)
    problem = _css_problem(theme, sources)
    if problem is None or not theme.variables:
        return problem
    # Name the variable at fault when leaving it out makes the theme work.
    for name, value in theme.variables.items():
        rest = {k: v for k, v in theme.variables.items() if k != name}
        trial = Theme(**{**_theme_kwargs(theme), "variables": rest})
        if _css_problem(trial, sources) is None:
            return f"[variables] {name} = {value!r} is not accepted by Textual ({problem})"
    return problem


def _sources_using(variables: dict[str, str]) -> list[tuple[str, str]]:
    """The widget CSS sources that refer to one of `variables` ($name), and at least one source:
    parsing any source tokenizes every variable's value, which catches a value that is not CSS."""
    if not variables:
        return []
    pattern = re.compile(r"\$(" + "|".join(re.escape(name) for name in variables) + r")(?![\w-])")
    sources = _widget_css()
    return [sources[0]] + [(origin, css) for origin, css in sources[1:] if pattern.search(css)]


def _theme_kwargs(theme: Theme) -> dict[str, Any]:
    fields = ("name", *COLOR_FIELDS, "dark", "luminosity_spread", "text_alpha")
    return {name: getattr(theme, name) for name in fields}


def load_theme_file(path: Path) -> Theme:
    """One theme file; raises ThemeFileError with the reason."""
    from writer.errors import WriterError
    from writer.textfiles import read_text_file

    try:  # a regular file of at most 1 MB: never a FIFO that would block the app's start
        raw = read_text_file(path, purpose="read", limit=THEME_FILE_LIMIT)
    except WriterError as exc:
        raise ThemeFileError(
            str(exc).replace(f"cannot read {path}: ", "cannot read it: ")
        ) from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"not valid TOML ({exc})") from None
    except RecursionError:
        raise ThemeFileError("nests arrays or tables too deeply to read") from None
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
    bundled = bundled_theme_files()
    files = list(bundled)
    try:
        files += sorted(user_dir.glob("*.toml")) if user_dir.is_dir() else []
    except OSError as exc:
        result.errors.append(f"{user_dir}: cannot list it ({exc})")
    for path in files:
        try:
            theme = load_theme_file(path)
            # Bundled themes are checked by the test suite; a user's are checked here, fully.
            problem = None if path in bundled else theme_problem(theme)
        except ThemeFileError as exc:
            problem = str(exc)
            theme = None
        except Exception as exc:  # anything else a strange file can cause: skip it, say why
            problem = f"{type(exc).__name__}: {exc}"
            theme = None
        if problem is None and theme is not None:
            result.themes.append(theme)
        else:
            result.errors.append(f"{path}: {problem}")
            result.broken[_declared_name(path)] = f"{path}: {problem}"
    return result


def _declared_name(path: Path) -> str:
    """The name a theme file gives itself (or its file name), for "you asked for a broken one"."""
    from writer.textfiles import read_text_file

    try:
        data = tomllib.loads(read_text_file(path, limit=THEME_FILE_LIMIT))
        name = data.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
    except Exception:
        pass
    return path.stem
