"""ctrl+o: the drafts library. Open, create, rename, delete (confirmed), export md/txt.

The screen works on the app's DraftStore directly for renames, deletions and exports; opening
and creating are returned to the app (it saves the current draft first).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from writer.errors import WriterError
from writer.ui.keys import key_for
from writer.ui.screens.confirm import ChoiceScreen
from writer.ui.screens.prompt import PromptScreen


def when(timestamp: float, now: float | None = None) -> str:
    """A last-edit time as people say it: 'just now', '5 min ago', or the date."""
    now = time.time() if now is None else now
    age = now - timestamp
    if age < 60:
        return "just now"
    if age < 3600:
        return f"{int(age // 60)} min ago"
    if age < 86400:
        return f"{int(age // 3600)} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".text")


def split_file_title(title: str) -> tuple[str, str]:
    """(stem, suffix) of a title that is a text file's name ("story.md": "story", ".md");
    other titles have no suffix."""
    for suffix in TEXT_SUFFIXES:
        if title.lower().endswith(suffix) and len(title) > len(suffix):
            return title[: -len(suffix)], title[-len(suffix) :]
    return title, ""


def safe_stem(stem: str) -> str:
    """A name made safe for file systems (letters, digits, `-` and `_`; spaces become `-`)."""
    return re.sub(r"[^\w\- ]+", "", stem).strip().replace(" ", "-")[:60]


def export_name(title: str, fmt: str) -> str:
    """A file name for an export: the title made safe for file systems, its own extension
    kept apart ("Rain.md" exports as `Rain-copy.md`, not over the file it came from)."""
    stem, suffix = split_file_title(title)
    name = safe_stem(stem) or "draft"
    return f"{name}-copy.{fmt}" if suffix.lstrip(".") == fmt else f"{name}.{fmt}"


class DraftsScreen(Screen["tuple[str, int | None] | None"]):
    """Dismisses with ("open", id), ("new", None) or None."""

    DEFAULT_CSS = """
    DraftsScreen DataTable { height: 1fr; }
    DraftsScreen #drafts-title { background: $panel; padding: 0 1; text-style: bold; }
    """
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("n", "new", "New"),
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
        Binding("e", "export('md')", "Export .md"),
        Binding("x", "export('txt')", "Export .txt"),
        Binding("escape", "dismiss(None)", "Back"),
    ]

    def __init__(
        self,
        store,
        current_id: int | None,
        *,
        save_open: Callable[[], object] = lambda: None,
        retitle_open: Callable[[], object] = lambda: None,
    ) -> None:
        """`save_open` saves the open draft's text now; `retitle_open` shows its new title."""
        super().__init__()
        self.store = store
        self.current_id = current_id
        self._save_open = save_open
        self._retitle_open = retitle_open

    def compose(self) -> ComposeResult:
        yield Static(f"Drafts library — {key_for(self, 'open')}: open", id="drafts-title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Title", "Words", "Last edit", "ID")
        self.refresh_rows()
        table.focus()

    def refresh_rows(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        try:
            drafts = self.store.list_drafts() if self.store is not None else []
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            drafts = []
        now = time.time()
        for draft in drafts:
            title = draft.display_title + ("  (open)" if draft.id == self.current_id else "")
            if draft.external_path and Path(draft.external_path).name != draft.display_title:
                title += f"  ← {Path(draft.external_path).name}"
            table.add_row(
                title, str(draft.words), when(draft.updated, now), str(draft.id), key=str(draft.id)
            )

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(key.value)

    def action_open(self) -> None:
        draft_id = self._selected()
        if draft_id is not None:
            self.dismiss(("open", draft_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(("open", int(event.row_key.value)))

    def action_new(self) -> None:
        self.dismiss(("new", None))

    def action_rename(self) -> None:
        draft_id = self._selected()
        if draft_id is None:
            return
        current = self.store.get_draft(draft_id).title

        def renamed(title: str | None) -> None:
            if title is None:
                return
            try:
                self.store.rename_draft(draft_id, title)
            except WriterError as exc:
                self.notify(str(exc), severity="error")
            self.refresh_rows()
            if draft_id == self.current_id:
                self._retitle_open()

        self.app.push_screen(PromptScreen("New title:", current), renamed)

    def action_delete(self) -> None:
        draft_id = self._selected()
        if draft_id is None:
            return
        if draft_id == self.current_id:
            self.notify("This draft is open in the editor; open another one first.")
            return
        title = self.store.get_draft(draft_id).display_title

        def confirmed(choice: str | None) -> None:
            if choice != "delete":
                return
            try:
                self.store.delete_draft(draft_id)
                self.notify(f"Deleted “{title}”.")
            except WriterError as exc:
                self.notify(str(exc), severity="error")
            self.refresh_rows()

        self.app.push_screen(
            ChoiceScreen(
                f"Delete “{title}” with its history? This cannot be undone.",
                [("keep", "Keep it"), ("delete", "Delete")],
            ),
            confirmed,
        )

    def action_export(self, fmt: str) -> None:
        draft_id = self._selected()
        if draft_id is None:
            return
        if draft_id == self.current_id:
            self._save_open()  # export what is on screen
        try:
            title = self.store.get_draft(draft_id).display_title
        except WriterError as exc:
            self.notify(str(exc), severity="error")
            return
        default = str(Path.cwd() / export_name(title, fmt))

        def chosen(path: str | None) -> None:
            if path and path.strip():
                self._export_to(draft_id, fmt, path.strip())

        self.app.push_screen(PromptScreen(f"Export as {fmt} to:", default), chosen)

    def _export_to(self, draft_id: int, fmt: str, path: str) -> None:
        """Check the destination (store.export rules), ask before replacing anything, write."""
        from writer.store.export import check_target, write_export

        store_path = getattr(self.store, "path", None)
        try:
            content = self.store.export_draft(draft_id, fmt)
            target = check_target(path, store_path=store_path)
        except WriterError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return

        def write(choice: str | None) -> None:
            if choice not in ("new", "overwrite", "follow"):
                self.notify("Export cancelled; nothing was written.")
                return
            final = target
            try:
                if choice == "follow":  # the user chose the link's target by name
                    final = check_target(path, store_path=store_path, follow_links=True)
                write_export(final, content, overwrite=choice != "new")
            except WriterError as exc:
                self.notify(f"Export failed: {exc}", severity="error")
                return
            self.notify(f"Exported to {final.path}")

        if not target.exists:
            write("new")
        elif target.link_target is not None:
            self.app.push_screen(
                ChoiceScreen(
                    f"{target.named} is a link to {target.link_target}. Replace the link with "
                    "the export, or overwrite the file it points to?",
                    [("cancel", "Cancel"), ("overwrite", "Replace link"), ("follow", "Overwrite")],
                ),
                write,
            )
        else:
            self.app.push_screen(
                ChoiceScreen(
                    f"{target.named} already exists. Overwrite it?",
                    [("cancel", "Cancel"), ("overwrite", "Overwrite")],
                ),
                write,
            )
