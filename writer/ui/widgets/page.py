"""How the page looks: Markdown at a glance, the dimmed paragraphs of focus mode, the column.

Pure functions over one line of text (no widgets here), so the editor styles only the lines it
draws: typing in a 1 MB manuscript re-styles the few visible lines, never the document. Textual's
own tree-sitter highlighting rebuilds its highlight map from the whole tree on every edit (and
its Markdown query has no emphasis), hence this small line-by-line styler.

Markdown recognised (one line at a time, as an author types it): ATX headings (`# Title`), block
quotes (`> ...`), `**strong**` / `__strong__`, `*emphasis*` / `_emphasis_`, and writer's idea notes
(`[Idea: ...]` on their own line). Setext headings and emphasis across lines stay plain.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from rich.style import Style

from writer.themes import MARKDOWN_KINDS  # the styles a theme's `[markdown]` table may set

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")

_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_QUOTE = re.compile(r"^ {0,3}>")
_NOTE = re.compile(r"^\[Idea: .*\]\s*$")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(
    r"(?<![*\w])\*(?![\s*])(.+?)(?<![\s*])\*(?![*\w])|(?<![_\w])_(?![\s_])(.+?)(?<![\s_])_(?![_\w])"
)

INLINE_LIMIT = 20_000
"""Longer lines (a whole manuscript with no line breaks) get no emphasis styling: each drawn row
of a line styles the whole line, and emphasis on a huge line would cost too much per frame."""

COLUMN_DEFAULT = 72
COLUMN_CHOICES = (60, 72, 88, 0)
"""The palette's column widths; 0 is the full width of the terminal."""


def is_markdown_name(name: str | None) -> bool:
    """Whether a file name or draft title asks for Markdown styling (by its suffix)."""
    return bool(name) and PurePath(name.strip()).suffix.lower() in MARKDOWN_SUFFIXES


def markdown_spans(line: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) for the Markdown in one line; whole-line kinds come first so that
    emphasis inside a heading or a quote is drawn on top of them."""
    if not line or line.isspace():
        return []
    if _NOTE.match(line):
        return [(0, len(line), "note")]  # a note is the author's, not story text: no emphasis
    spans: list[tuple[int, int, str]] = []
    if _HEADING.match(line):
        spans.append((0, len(line), "heading"))
    elif _QUOTE.match(line):
        spans.append((0, len(line), "quote"))
    if len(line) > INLINE_LIMIT or ("*" not in line and "_" not in line):
        return spans
    strong = [(m.start(), m.end()) for m in _STRONG.finditer(line)]
    spans.extend((start, end, "strong") for start, end in strong)
    for match in _EMPHASIS.finditer(line):
        if not any(s <= match.start() < e for s, e in strong):
            spans.append((match.start(), match.end(), "emphasis"))
    return spans


def paragraph_bounds(lines: list[str], row: int) -> tuple[int, int]:
    """The first and last line of the paragraph holding `row` (blank lines separate them). On a
    blank line just after a paragraph (enter pressed at its end) that paragraph stays lit, with
    the blank line; a blank line between blank lines is a paragraph of its own."""
    if not lines:
        return 0, 0
    row = min(max(row, 0), len(lines) - 1)
    if not lines[row].strip():
        if row == 0 or not lines[row - 1].strip():
            return row, row
        return paragraph_bounds(lines, row - 1)[0], row
    top = row
    while top > 0 and lines[top - 1].strip():
        top -= 1
    bottom = row
    while bottom + 1 < len(lines) and lines[bottom + 1].strip():
        bottom += 1
    return top, bottom


def side_padding(width: int, column: int, minimum: int = 2, scrollbar: int = 0) -> int:
    """Left/right padding that centres a `column`-character measure in `width` cells
    (0: the full width, with the `minimum` margins). TextArea wraps one cell short of its
    content width (room for the cursor at a line's end); a scrollbar takes its own cells."""
    if column <= 0:
        return minimum
    spare = width - scrollbar - (column + 1)
    return max(minimum, spare // 2)


def _blend(fg: str | None, bg: str | None, amount: float) -> str | None:
    from textual.color import Color

    try:
        return Color.parse(fg).blend(Color.parse(bg), amount).hex if fg and bg else None
    except Exception:  # a colour Textual cannot blend: no tint, the style still applies
        return None


def page_styles(theme: object, variables: dict[str, str]) -> dict[str, Style]:
    """The Rich style of every Markdown kind and of `dim` (focus mode) for a theme: the theme's
    own `[markdown]` table where it has one, else styles derived from its colours."""
    fg, bg = variables.get("foreground"), variables.get("background")
    muted = _blend(fg, bg, 0.45)
    faint = _blend(fg, bg, 0.6)
    primary = variables.get("primary")
    secondary = variables.get("secondary")
    defaults = {
        "heading": f"bold {primary}" if primary else "bold",
        "strong": "bold",
        "emphasis": "italic",
        "quote": f"italic {secondary}" if secondary else "italic",
        "note": f"italic {muted}" if muted else "dim italic",
    }
    own: dict[str, str] = dict(getattr(theme, "markdown", None) or {})
    styles = {kind: Style.parse(own.get(kind, defaults[kind])) for kind in MARKDOWN_KINDS}
    styles["dim"] = Style(color=faint) if faint else Style(dim=True)
    return styles
