"""`writer [FILE]`: open the writing app (the CLI parses; this checks the options and runs it).

Only light modules are imported here; torch loads later, inside the app's model worker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from writer.errors import UsageError, WriterError


def run_app(args: argparse.Namespace) -> int:
    """Validate the options that can be checked up front, then run the app until it quits."""
    from writer.config import load_config
    from writer.presets import all_presets

    config = load_config()
    if args.preset is not None:
        presets = all_presets()
        if args.preset not in presets:
            raise UsageError(f"unknown preset {args.preset!r}; choose one of: {', '.join(presets)}")
    if args.model is not None and not args.model.strip():
        raise UsageError("--model is empty; give a hub id such as gpt2, a folder or a fine-tune")
    if args.file == "":
        raise UsageError("the file name is empty; give a .txt or .md file to edit")
    file = Path(args.file).expanduser() if args.file else None
    if file is not None:
        _check_links(file)
    if file is not None and file.is_dir():
        raise WriterError(f"{file} is a folder; give a .txt or .md file to edit")
    if file is not None and os.path.lexists(file) and os.path.exists(file):
        from writer.textfiles import check_text_file

        # Before the app starts: a FIFO would block its first frame, /dev/zero fill memory.
        check_text_file(file, purpose="open")
    if args.theme is not None:
        from textual.theme import BUILTIN_THEMES

        from writer.themes import load_themes

        loaded = load_themes()
        # Every theme the app lists: writer's (bundled and the user's), then Textual's own.
        names = [theme.name for theme in loaded.themes]
        names += [name for name in BUILTIN_THEMES if name not in names]
        if args.theme in loaded.broken:
            raise WriterError(f"theme {args.theme!r} cannot be used: {loaded.broken[args.theme]}")
        if args.theme not in names:
            raise UsageError(f"unknown theme {args.theme!r}; choose one of: {', '.join(names)}")

    from writer.ui.app import WriterApp

    loader = None
    label = args.model
    engine = getattr(args, "engine", None) or config.engine
    if engine and engine != "local":
        from writer.engine.opening import remote_engine_loader
        from writer.engine.remote.http import base_url

        def notice(text: str) -> None:  # from the generation worker: a notification
            app.call_from_thread(app.notify, text, title="Server", severity="warning")

        loader = remote_engine_loader(engine, args.model, notice)
        label = args.model or base_url(engine)  # the app's model name: the server's model
    app = WriterApp(
        file,
        model=label,
        preset=args.preset,
        theme=args.theme,
        device=args.device,
        config=config,
        engine_loader=loader,
    )
    app.run()
    code = int(app.return_code or 0)
    if app.model.loading:
        # The text is saved and the store closed; only a model load (a torch import that cannot
        # be interrupted) is still running. Waiting for it would make quitting hang for seconds.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _check_links(file: Path) -> None:
    """Refuse, before the app starts, a link that leads back to itself and a link to nothing:
    saving through a dangling link would create a file wherever it points (even /nonexistent)."""
    import errno

    if not os.path.islink(file):
        try:
            os.stat(file)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a folder on the way is a loop
                raise WriterError(f"{file}: a link on its path is a loop; fix it") from None
        return
    try:
        os.stat(file)
    except FileNotFoundError:
        raise WriterError(
            f"{file} is a symbolic link to {os.readlink(file)}, which does not exist; "
            "create that file first, or give the real file's name"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WriterError(
                f"{file} is a symbolic link loop (it leads back to itself); fix or remove the link"
            ) from None
        raise WriterError(f"cannot open {file}: {exc.strerror or exc}") from None
