"""f12: save the text on screen as a file ("save as" / export), from inside the app.

It writes what the editor shows, not what the store has, so the text can be got out even when
the drafts store is broken. The rules are `writer.store.export`'s: never into writer's data
folder or over the store's files, a symlink is not followed unless the author says so,
something already there is replaced only after a confirmation, and the write is atomic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from writer.errors import WriterError
from writer.ui.screens.confirm import ChoiceScreen


def default_name(title: str) -> str:
    """A file name for a copy of the story: a file's name keeps its extension
    (`story.md` -> `story-copy.md`); any other title made safe for file systems, as `.txt`."""
    from writer.ui.screens.drafts import export_name, split_file_title

    suffix = split_file_title(title)[1]
    return export_name(title or "story", suffix.lstrip(".") or "txt")


def save_text_as(
    app: Any,
    path: str,
    content: str,
    store_path: Path | None,
    done: Callable[[Path], None] | None = None,
) -> None:
    """Check `path`, ask before replacing anything there, then write `content` atomically; the
    outcome is a notification (`done(path)` after a successful write)."""
    from writer.store.export import check_target, write_export

    try:
        target = check_target(path, store_path=store_path)
    except WriterError as exc:
        app.notify(f"Not saved: {exc}", severity="error", timeout=10)
        return

    def write(choice: str | None) -> None:
        if choice not in ("new", "overwrite", "follow"):
            app.notify("Save as cancelled; nothing was written.")
            return
        final = target
        try:
            if choice == "follow":  # the author chose the link's target by name
                final = check_target(path, store_path=store_path, follow_links=True)
            write_export(final, content, overwrite=choice != "new")
        except WriterError as exc:
            app.notify(f"Not saved: {exc}", severity="error", timeout=10)
            return
        app.notify(f"Saved a copy as {final.path}")
        if done is not None:
            done(final.path)

    if not target.exists:
        write("new")
    elif target.link_target is not None:
        app.push_screen(
            ChoiceScreen(
                f"{target.named} is a link to {target.link_target}. Replace the link with "
                "your text, or overwrite the file it points to?",
                [("cancel", "Cancel"), ("overwrite", "Replace link"), ("follow", "Overwrite")],
            ),
            write,
        )
    else:
        app.push_screen(
            ChoiceScreen(
                f"{target.named} already exists. Overwrite it?",
                [("cancel", "Cancel"), ("overwrite", "Overwrite")],
            ),
            write,
        )
