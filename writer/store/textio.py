"""Drafts to and from text files: export formats and reading a file to import."""

from __future__ import annotations

import re
from pathlib import Path

from writer.errors import WriterError
from writer.textfiles import read_text_file

FORMATS: tuple[str, ...] = ("md", "txt")

# An ATX Markdown heading of any level: "# Title", "## Title ##".
_HEADING = re.compile(r"^\s{0,3}#{1,6}[ \t]+(.*?)[ \t#]*$")


def one_line(text: str, limit: int = 200) -> str:
    """Titles live on one line: collapse whitespace (newlines included) and cap the length."""
    return " ".join(text.split())[:limit]


def encodable(text: str) -> str:
    """`text` with lone UTF-16 surrogates (which pasted text can carry, and which UTF-8 and
    SQLite cannot store) replaced by U+FFFD, so a save never fails over one bad character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def format_export(title: str, text: str, fmt: str) -> str:
    """md: a `# Title` heading (when there is a title and the text has no heading of its own),
    a blank line, the text; txt: the text.
    Either ends with exactly one newline, as text files should."""
    if fmt not in FORMATS:
        raise WriterError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    body = text.rstrip("\n") + "\n" if text else ""
    first = body.lstrip().split("\n", 1)[0]
    if fmt == "md" and title and not _HEADING.match(first):  # a story's own heading stays first
        return f"# {title}\n\n{body}"
    return body


def parse_import(path: Path) -> tuple[str, str]:
    """(title, text) of a file to import.

    A leading Markdown heading becomes the title and is taken out of the text (so an exported
    .md file imports back to the same draft); otherwise the title is the file name's stem.
    """
    return parse_text(read_text_file(path, purpose="import"), one_line(path.stem))


def parse_text(text: str, default_title: str) -> tuple[str, str]:
    """(title, text) of an imported file's text: see `parse_import`."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        match = _HEADING.match(lines[first])
        if match and match.group(1).strip():
            rest = "\n".join(lines[first + 1 :]).lstrip("\n")
            return one_line(match.group(1)), rest
    return default_title, text
