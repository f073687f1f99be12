"""The `writer` command: parse, call, report.

`writer [FILE]` opens the app; `writer COMMAND ...` runs a subcommand. Each subcommand lives in
`writer/commands/NAME.py` with `add_parser(subparsers)` and `run(args) -> int`; those modules are
imported lazily so `writer` alone starts fast. Every failure the user can fix is one line on
stderr starting `writer: error:`, exit 1 (2 for usage errors); never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from writer.commands import device_type
from writer.errors import UsageError, WriterError, error_line, log_exception

# subcommand -> module in writer.commands
COMMANDS: dict[str, str] = {
    "generate": "generate",
    "presets": "presets",
    "download": "download",
    "models": "models",
    "drafts": "drafts",
    "finetune": "finetune",
    "learn": "learn",
    "eval": "evaluate",
    "compare": "compare",
    "stats": "stats",
    "serve": "serve",
    "chat": "chat",
    "lore": "lore",
}


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one `writer: error:` line (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class VersionAction(argparse.Action):
    """--version: the installed package's version, read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        import writer

        print(f"writer {writer.__version__}")
        parser.exit()


def build_app_parser() -> Parser:
    parser = Parser(
        prog="writer",
        description=(
            "A creative-writing assistant in the terminal. `writer [FILE]` opens the editor; "
            "subcommands: " + ", ".join(COMMANDS) + " (`writer COMMAND --help`)."
        ),
    )
    parser.add_argument("file", nargs="?", help="a .txt/.md file to edit (created if missing)")
    parser.add_argument("--model", help="hub id, local folder or fine-tuned model name")
    parser.add_argument("--preset", help="creativity preset (see `writer presets`)")
    parser.add_argument("--theme", help="theme name")
    parser.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    parser.add_argument(
        "--engine",
        metavar="URL",
        help="write with a model on an OpenAI-compatible server (vLLM, llama.cpp, writer serve); "
        "API key from WRITER_API_KEY",
    )
    parser.add_argument("--version", action=VersionAction, help="print the version and exit")
    return parser


def build_command_parser(name: str) -> tuple[Parser, object]:
    module = importlib.import_module(f"writer.commands.{COMMANDS[name]}")
    parser = Parser(prog="writer")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    module.add_parser(sub)
    return parser, module


def _run(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        parser, module = build_command_parser(argv[0])
        args = parser.parse_args(argv)
        return int(module.run(args) or 0)
    args = build_app_parser().parse_args(argv)
    from writer.commands.app import run_app

    return run_app(args)


_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of output that could not be
    written (a closed pipe, a full disk) adds no "Exception ignored" message after ours."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _finish_stdout(code: int) -> int:
    """Flush stdout now, while an error can still be reported as one line."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`writer ... | head`): nothing to say
        _discard_stdout()
        return code or 1
    except OSError as exc:
        _discard_stdout()
        if code == 0:
            print(
                f"writer: error: cannot write to standard output: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return _finish_stdout(_main(argv))


def _main(argv: list[str]) -> int:
    try:
        return _run(argv)
    except UsageError as exc:
        print(f"writer: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except WriterError as exc:
        print(f"writer: error: {error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("writer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _discard_stdout()
        return 1
    except OSError as exc:
        # A write that failed inside a command (print() to a full disk or /dev/full): stream
        # writes carry no file name, unlike a failed open or read of a named file.
        if exc.filename is None and exc.errno in _WRITE_ERRORS:
            _discard_stdout()
            print(f"writer: error: cannot write output: {exc.strerror}", file=sys.stderr)
            return 1
        return _unexpected(exc)
    except MemoryError:
        print(
            "writer: error: out of memory; close other programs or use a smaller input",
            file=sys.stderr,
        )
        return 1
    except UnicodeEncodeError as exc:  # an argument with bytes that are not UTF-8
        bad = ascii(exc.object[exc.start : exc.end]) if isinstance(exc.object, str) else "?"
        print(
            f"writer: error: an argument or input holds {bad}, which is not valid UTF-8 text; "
            "give it as UTF-8",
            file=sys.stderr,
        )
        return 1
    except RecursionError:  # input nested thousands deep (JSON, TOML) that a parser recursed on
        print(
            "writer: error: the input nests lists or objects too deeply to read; flatten it",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:
        # pathlib's resolve() reports a link that leads back to itself as RuntimeError.
        text = str(exc)
        if text.startswith("Symlink loop from "):
            where = text.removeprefix("Symlink loop from ").strip("'\"")
            print(
                f"writer: error: {where} is a symbolic link loop (it leads back to itself); "
                "fix or remove the link",
                file=sys.stderr,
            )
            return 1
        return _unexpected(exc)
    except Exception as exc:  # the last line of defence: one line, full details in the log
        return _unexpected(exc)


def _unexpected(exc: BaseException) -> int:
    where = log_exception(exc)
    hint = f" (details in {where})" if where else ""
    print(f"writer: error: unexpected {error_line(exc)}{hint}", file=sys.stderr)
    return 1
