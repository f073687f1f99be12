"""MkDocs hook: the command reference, written from the `writer` argparse parsers at build time.

`docs/reference/commands.md` holds a hand-written introduction and the marker below; this hook
replaces the marker with every command's usage, description and options, read from
`writer.cli.build_app_parser()` and `writer.cli.build_command_parser(name)` for each name in
`writer.cli.COMMANDS`, so the page says exactly what `writer COMMAND --help` says. Building the
parsers imports the command modules, which import torch only inside `run`: the docs build stays
torch-free (tests/test_docs.py checks it).

argparse has no public API for one option's rendered name or expanded help, so this reads
`parser._actions` and uses the formatter's `_format_action_invocation` and `_expand_help`, the
same calls `--help` makes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

MARKER = "<!-- writer-commands -->"
PAGE = "reference/commands.md"
ROOT = Path(__file__).resolve().parents[2]


def _escape(text: str) -> str:
    """Help text is plain terminal text: keep Markdown from reading it as markup."""
    return text.replace("<", "&lt;").replace("|", "\\|")


def _invocation(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    return formatter._format_action_invocation(action)  # what --help prints on the left


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def render_parser(parser: argparse.ArgumentParser, level: int = 2) -> list[str]:
    """One command: a heading, its usage, its description and its arguments."""
    os.environ["COLUMNS"] = "100"  # argparse wraps usage to the terminal: fix the width
    formatter = parser._get_formatter()
    lines = [f"{'#' * level} `{parser.prog}`", ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    if parser.description:
        lines += [_escape(parser.description), ""]
    rows = []
    sub = None
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            sub = action
            continue
        if action.help == argparse.SUPPRESS:
            continue
        name = _invocation(formatter, action)
        help_text = formatter._expand_help(action) if action.help else ""
        rows.append(f"| `{name}` | {_escape(' '.join(help_text.split()))} |")
    if rows:
        lines += ["| argument | what it does |", "|---|---|", *rows, ""]
    if parser.epilog:
        lines += [_escape(parser.epilog), ""]
    if sub is not None:
        helps = {a.dest: a.help for a in sub._choices_actions}
        for name, child in sub.choices.items():
            if not child.description and helps.get(name):
                child.description = helps[name]
            lines += render_parser(child, level + 1)
    return lines


def render_commands() -> str:
    """The whole reference: `writer` itself, then each subcommand in `COMMANDS` order."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from writer import cli

    commands = {}
    summaries = {}
    for name in cli.COMMANDS:
        parser, _module = cli.build_command_parser(name)
        sub = _subparsers(parser)
        assert sub is not None, name
        command = sub.choices[name]
        helps = {a.dest: a.help for a in sub._choices_actions}
        if not command.description:
            command.description = helps.get(name)
        commands[name] = command
        summaries[name] = helps.get(name) or _first_sentence(command)
    lines = ["| command | what it does |", "|---|---|"]
    lines.append("| [`writer [FILE]`](#writer) | open the editor on FILE, or on the last draft |")
    for name in commands:
        lines.append(f"| [`writer {name}`](#writer-{name}) | {_escape(summaries[name])} |")
    lines.append("")
    lines += render_parser(cli.build_app_parser())
    for command in commands.values():
        lines += render_parser(command)
    return "\n".join(lines) + "\n"


def _first_sentence(parser: argparse.ArgumentParser) -> str:
    text = " ".join((parser.description or "").split())
    end = re.search(r"\. (?=[A-Z`])", text)  # a sentence's end, not "e.g. "
    return text if end is None else text[: end.start() + 1]


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs API)
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its marker {MARKER}")
    return markdown.replace(MARKER, render_commands())
