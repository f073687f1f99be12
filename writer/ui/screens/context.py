"""f8: the story context of the current draft (memory, author's note, lorebook), and its viewer.

`ContextScreen` edits the three parts; the lorebook is edited as the TOML of a lorebook file
(`[[entry]]` tables, the same shape `writer generate --lorebook` reads), and can be imported from
or exported to such a file, or filled from suggestions (ctrl+l: the names the story keeps
mentioning, screens/recalled.py). `ContextViewer` shows what the model will see for the next
request, part by part, with token counts and what was trimmed or left out, and the passages
recall brought back (enter on one jumps the editor there): tokenizing needs the loaded
engine's tokenizer, so it runs in a thread worker, never on the UI thread.

The writing screen hands the dialogs what they show (the context, the story before the cursor,
the next request's length, a getter of the loaded engine); the open draft keeps the context
(ui/story_context.py) and the writing screen opens the dialog (writing/context.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea

from writer.engine.story.context import AssembledContext, StoryContext, assemble_context
from writer.engine.story.lorebook import load_lorebook, parse_lorebook
from writer.errors import WriterError, error_line
from writer.ui.keys import key_for
from writer.ui.screens.recalled import LoreSuggestions, recalled_list
from writer.ui.widgets.fields import NumberInput, text_fields_first

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PART_NAMES = {
    "memory": "Memory",
    "lorebook": "Lorebook",
    "recall": "Recalled passages",
    "story": "Story",
    "note": "Author's note",
    "frame": "Ideas frame",
}


def measure(engine: Any, story: str, context: StoryContext, max_new: int) -> AssembledContext:
    """The next request's prompt (call on a worker thread: it tokenizes)."""
    tokenizer = getattr(engine, "tokenizer", None)
    window = getattr(engine, "context_size", None)
    if tokenizer is None or not window:
        raise WriterError("the loaded model does not expose its tokenizer; no token counts")
    return assemble_context(tokenizer, story, context, window, min(max_new, window - 1))


def fill_label(assembled: AssembledContext) -> str:
    b = assembled.breakdown
    return f"ctx {b.total}/{b.window}"


# -- the editor dialog ----------------------------------------------------------------------
def _entries_toml(context: StoryContext) -> str:
    """Only the [[entry]] tables of the context's TOML (memory and note have their own boxes)."""
    from writer.store.context import context_to_toml

    text = context_to_toml(StoryContext(lorebook=context.lorebook))
    start = text.find("[[entry]]")
    return text[start:] if start >= 0 else ""


def parse_entries(text: str, source: str = "lorebook") -> tuple:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WriterError(f"{source} is not valid TOML ({exc})") from None
    return parse_lorebook(data, source)


class ContextScreen(ModalScreen["StoryContext | None"]):
    """Dismisses with the edited (valid) context, or None on escape."""

    DEFAULT_CSS = """
    ContextScreen { align: center middle; }
    ContextScreen > Vertical {
        width: 100; max-width: 95%; height: 95%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ContextScreen Label { margin-top: 1; color: $text-muted; }
    ContextScreen #memory { height: 6; }
    ContextScreen #note { height: 3; }
    ContextScreen #lorebook { height: 1fr; min-height: 6; }
    ContextScreen .row { height: 1; margin-top: 1; }
    ContextScreen .row Label { margin-top: 0; width: auto; padding-right: 1; }
    ContextScreen .row Input { width: 12; }
    ContextScreen #path { width: 1fr; }
    ContextScreen #error { color: $error; height: auto; }
    ContextScreen #buttons { height: auto; align-horizontal: right; }
    ContextScreen Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("f8", "view", "View context"),
        Binding("ctrl+l", "suggest", "Suggest entries"),
    ]

    def __init__(
        self,
        context: StoryContext,
        story: str = "",
        max_new: int = 0,
        engine: Callable[[], Any] = lambda: None,
        recall: Callable[[StoryContext], StoryContext] | None = None,
        jump: Callable[[int], None] | None = None,
    ) -> None:
        """`story`, `max_new` and `engine` are for the viewer (f8): the text before the cursor,
        the next request's length and a getter of the loaded engine (None while loading);
        `recall` gives a context the request's recall, and `jump(offset)` moves the editor to
        a recalled passage (the dialog is closed first, applying any edit)."""
        super().__init__()
        self.context = context
        self.story = story
        self.max_new = max_new
        self.engine = engine
        self.recall = recall
        self.jump = jump
        self._replace: Path | None = None  # the file a second Export press replaces

    def compose(self) -> ComposeResult:
        c = self.context
        with Vertical() as box:
            box.border_title = "Story context"
            box.border_subtitle = (
                f"{key_for(self, 'apply')}: apply · {key_for(self, 'view')}: what the model sees"
                f" · {key_for(self, 'suggest')}: suggest entries"
                f" · {key_for(self, 'dismiss(None)')}: cancel"
            )
            yield Label("Memory (always at the top: premise, characters, style)")
            yield TextArea(c.memory, id="memory", soft_wrap=True)
            with Horizontal(classes="row"):
                yield Label("Author's note, inserted this many lines before the end:")
                yield NumberInput(
                    str(c.note_depth), what="Lines before the end", id="note_depth", compact=True
                )
            yield TextArea(c.note, id="note", soft_wrap=True)
            with Horizontal(classes="row"):
                yield Label("Lorebook ([[entry]] keys, text, always, regex, priority); scan depth:")
                yield NumberInput(
                    str(c.scan_depth), what="Scan depth", id="scan_depth", compact=True
                )
            yield TextArea(_entries_toml(c), id="lorebook", language=None)
            with Horizontal(classes="row"):
                yield Label("Lorebook file:")
                yield Input("", id="path", placeholder="lorebook.toml", compact=True)
                yield Button("Import", id="import", compact=True)
                yield Button("Export", id="export", compact=True)
                yield Button("Suggest entries", id="suggest", compact=True)
            with Horizontal(classes="row"):
                yield Label("Recall tokens (passages from the whole story; empty: config, 0: off):")
                yield Input(
                    "" if c.recall_tokens is None else str(c.recall_tokens),
                    id="recall_tokens",
                    placeholder="default",
                    compact=True,
                )
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("View", id="view")
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#memory", TextArea).focus()

    @property
    def focus_chain(self) -> list[Widget]:
        """Tab goes from one text box to the next (memory, note, lorebook), then the rest."""
        return text_fields_first(super().focus_chain, ("memory", "note", "lorebook"))

    def _error(self, reason: str) -> None:
        self.query_one("#error", Static).update(escape(reason))
        if reason:
            self.app.bell()

    def edited(self) -> StoryContext:
        """The context as edited; WriterError (one line) naming what is wrong."""
        depths: dict[str, int | None] = {}
        for name in ("note_depth", "scan_depth", "recall_tokens"):
            value = self.query_one(f"#{name}", Input).value.strip()
            if name == "recall_tokens" and not value:
                depths[name] = None  # the config's
                continue
            try:
                depths[name] = int(value)
            except ValueError:
                raise WriterError(f"{name} must be a whole number; got {value!r}") from None
        return replace(  # what the dialog does not edit (the draft's recall cap) is kept
            self.context,
            memory=self.query_one("#memory", TextArea).text,
            note=self.query_one("#note", TextArea).text,
            lorebook=parse_entries(self.query_one("#lorebook", TextArea).text),
            **depths,
        )

    def action_apply(self) -> None:
        try:
            context = self.edited()
        except WriterError as exc:
            self._error(str(exc))
            return
        self.dismiss(context)

    def action_view(self) -> None:
        try:
            context = self.edited()
        except WriterError as exc:
            self._error(str(exc))
            return
        self._error("")
        edited = context
        if self.recall is not None:
            context = self.recall(context)

        def jump(start: int | None) -> None:
            if start is None or self.jump is None:
                return
            self.dismiss(edited if edited != self.context else None)
            self.jump(start)

        self.app.push_screen(ContextViewer(context, self.story, self.max_new, self.engine), jump)

    def action_suggest(self) -> None:
        """Suggested lorebook entries for the story; enter adds one to the lorebook box."""
        lore = self.query_one("#lorebook", TextArea)
        try:
            known = [key for entry in parse_entries(lore.text) for key in entry.keys]
        except WriterError:
            known = []

        def add(toml: str) -> None:
            text = lore.text.rstrip("\n")
            lore.load_text(f"{text}\n\n{toml}" if text else toml)

        self.app.push_screen(LoreSuggestions(self.story, add, known))

    def _path(self) -> Path | None:
        value = self.query_one("#path", Input).value.strip()
        if not value:
            self._error("Type a lorebook file's path first.")
            self.query_one("#path", Input).focus()
            return None
        return Path(value).expanduser()

    def _import(self) -> None:
        path = self._path()
        if path is None:
            return
        try:
            entries = load_lorebook(path)
        except WriterError as exc:
            self._error(str(exc))
            return
        text = _entries_toml(StoryContext(lorebook=entries))
        self.query_one("#lorebook", TextArea).load_text(text)
        self._error("")
        self.notify(f"Imported {len(entries)} lorebook entries from {path}.")

    def _export(self) -> None:
        path = self._path()
        if path is None:
            return
        try:
            text = self.query_one("#lorebook", TextArea).text
            entries = parse_entries(text)
            from writer.store.export import check_target, write_export

            target = check_target(path, follow_links=True)
            # Replacing a file takes a second press on Export with the same path: consent.
            consent = target.exists and self._replace == target.path
            if target.exists and not consent:
                self._replace = target.path
                self._error(f"{target.path} exists; press Export again to replace it.")
                return
            write_export(target, _entries_toml(StoryContext(lorebook=entries)), overwrite=consent)
        except (WriterError, OSError) as exc:
            self._error(error_line(exc))
            return
        self._replace = None
        self._error("")
        self.notify(f"Exported {len(entries)} lorebook entries to {target.path}.")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = {
            "apply": self.action_apply,
            "view": self.action_view,
            "import": self._import,
            "export": self._export,
            "suggest": self.action_suggest,
        }.get(event.button.id or "")
        if action is None:
            self.dismiss(None)
        else:
            action()


# -- the viewer -----------------------------------------------------------------------------
class ContextViewer(ModalScreen["int | None"]):
    """What the model will see for the next continue request, part by part. Dismisses with a
    recalled passage's start offset when enter is pressed on it, else None."""

    DEFAULT_CSS = """
    ContextViewer { align: center middle; }
    ContextViewer > Vertical {
        width: 100; max-width: 95%; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ContextViewer #summary { height: auto; margin-bottom: 1; }
    ContextViewer .part-title { text-style: bold; color: $accent; margin-top: 1; }
    ContextViewer .part-text { color: $text; }
    ContextViewer #recalled { height: auto; max-height: 8; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape,q,f8", "dismiss(None)", "Close")]

    def __init__(
        self, context: StoryContext, story: str, max_new: int, engine: Callable[[], Any]
    ) -> None:
        super().__init__()
        self.context = context
        self.story = story
        self.max_new = max_new
        self.engine = engine
        self.assembled: AssembledContext | None = None
        self.problem = ""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "What the model sees next"
            box.border_subtitle = f"{key_for(self, 'dismiss(None)')}: close"
            yield Static("counting tokens…", id="summary")
            yield VerticalScroll(id="parts")

    def on_mount(self) -> None:
        self._count(self.engine(), self.story, self.max_new)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _count(self, engine: Any, story: str, max_new: int) -> None:
        """Tokenizing: on a worker thread."""
        try:
            if engine is None:
                raise WriterError("no model is loaded yet; counts appear once it is ready")
            assembled = measure(engine, story, self.context, max_new)
            texts = [_decode(engine, ids) for ids in _segments(assembled)]
        except Exception as exc:  # shown in the viewer, never a crash
            self.app.call_from_thread(self._show_problem, error_line(exc))
            return
        self.app.call_from_thread(self._show, assembled, texts)

    def _show_problem(self, reason: str) -> None:
        self.problem = reason
        self.query_one("#summary", Static).update(escape(reason))

    def _show(self, assembled: AssembledContext, texts: list[str]) -> None:
        self.assembled = assembled
        b = assembled.breakdown
        lines = [
            f"{b.total} of {b.window} tokens, {b.max_new_tokens} kept for the continuation: "
            f"memory {b.memory}, lorebook {b.lorebook}, recall {b.recall}, note {b.note}, "
            f"story {b.story}",
        ]
        trimmed = [
            f"{what} {n}"
            for what, n in (
                ("story (from its start)", b.story_trimmed),
                ("memory (at its end)", b.memory_trimmed),
                ("note", b.note_trimmed),
            )
            if n
        ]
        lines.append("trimmed tokens: " + (", ".join(trimmed) if trimmed else "none"))
        for use in b.entries:
            lines.append(f"lorebook entry {use.index} in ({use.why}): {use.tokens} tokens")
        for use in b.left_out:
            lines.append(f"lorebook entry {use.index} left out ({use.why}): {use.tokens} tokens")
        if b.recalled:
            count = len(b.recalled)
            lines.append(
                f"recall: {b.recall} tokens, {count} passage{'' if count == 1 else 's'} from "
                "before the window (enter on one: go there)"
            )
        self.query_one("#summary", Static).update(escape("\n".join(lines)))
        if b.recalled:
            self.query_one(Vertical).border_subtitle = "enter: go to the passage · escape: close"
            listed = recalled_list(b.recalled)
            self.query_one(Vertical).mount(listed, after="#summary")
            listed.highlighted = 0
            listed.focus()
        parts = self.query_one("#parts", VerticalScroll)
        widgets = []
        for (name, count), text in zip(b.parts, texts, strict=True):
            if not count:
                continue
            title = f"{PART_NAMES.get(name, name)} · {count} tokens"
            widgets.append(Static(escape(title), classes="part-title"))
            widgets.append(Static(escape(text), classes="part-text"))
        parts.mount_all(widgets)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))


def _segments(assembled: AssembledContext) -> list[list[int]]:
    """The prompt ids cut into the breakdown's parts, in layout order."""
    out, start = [], 0
    for _, count in assembled.breakdown.parts:
        out.append(assembled.ids[start : start + count])
        start += count
    return out


def _decode(engine: Any, ids: list[int]) -> str:
    return engine.tokenizer.decode(ids, clean_up_tokenization_spaces=False) if ids else ""
