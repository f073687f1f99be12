"""The status bar: `story.md · 812 words · balanced* · gpt2 ready (cpu, fp32) · saved`.

Fields are separated by ` · `. When the line is too narrow (80 columns and less) fields drop in
this order: context fill, preset, title, word count; then the model's detail, then the model;
the save state never drops. A long model error is cut short here; its full text is in the
notification and the models screen (f5). The speed of the last request is shown once, in the
candidates panel.
"""

from __future__ import annotations

from typing import Literal

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

SaveState = Literal[
    "saved", "unsaved", "save failed", "read-only", "file changed on disk", "file not saved"
]
ModelState = Literal["loading", "ready", "error", "none"]
SAVE_STYLES: dict[str, str] = {
    "save failed": "bold red",
    "file not saved": "bold red",
    "file changed on disk": "bold yellow",
    "unsaved": "yellow",
    "read-only": "yellow",
}
MODEL_STYLES = {"ready": "green", "loading": "yellow", "error": "bold red"}
SEPARATOR = " · "
DROP_ORDER = ("context", "learn", "preset", "title", "words", "model detail", "model")
"""What gives way, first to last, when the line is too narrow; the save state always stays."""
ERROR_CHARS = 32
"""A model error longer than this is cut short in the bar (with …)."""


def shorten(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters (cut with …)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(1, limit - 1)].rstrip() + "…"


def server_host(engine: object) -> str:
    """`host:port` of the server a remote engine talks to; "" for a local engine."""
    url = getattr(engine, "url", None)
    if getattr(engine, "device", None) != "server" or not isinstance(url, str):
        return ""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


class StatusBar(Static):
    """One line above the footer. The app sets its reactive fields; it renders them."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    """

    class TitleChanged(Message):
        """The draft or file shown changed its title (the page styles `.md` as Markdown)."""

        def __init__(self, title: str) -> None:
            super().__init__()
            self.title = title

    title: reactive[str] = reactive("")
    words: reactive[int] = reactive(0)
    goal: reactive[int | None] = reactive(None)
    """The draft's word goal: the count shows as `812/1000 words` while one is set."""
    preset: reactive[str] = reactive("")
    model_state: reactive[ModelState] = reactive("loading")
    model_detail: reactive[str] = reactive("")
    speed: reactive[float | None] = reactive(None)
    """The last request's speed: kept for callers, shown in the candidates panel, not here."""
    save_state: reactive[SaveState] = reactive("saved")
    context_fill: reactive[str] = reactive("")
    learn: reactive[str] = reactive("")
    """The offer to learn from the author's picks, with its key (ui/writing/learning.py)."""

    def watch_title(self, title: str) -> None:
        self.post_message(self.TitleChanged(title))

    def _model(self, detailed: bool) -> Text:
        """`gpt2 ready (cpu, fp32)`, `gpt2 loading…`, `model error: …`, `no model`."""
        state, detail = self.model_state, self.model_detail
        style = MODEL_STYLES.get(state, "")
        if state == "none":
            return Text("no model")
        if state == "error":
            text = Text("model ")
            text.append("error", style=style)
            if detailed and detail:
                text.append(f": {shorten(detail, ERROR_CHARS)}")
            return text
        name, _, where = detail.partition(", ")
        if name.startswith(("/", ".", "~")):  # a model folder: its name, not its whole path
            name = name.rstrip("/").rsplit("/", 1)[-1] or name
        engine = getattr(getattr(self.app, "model", None), "engine", None)
        host = server_host(engine) if state == "ready" else ""
        if host:  # a server's model: its own name, and where it runs
            name = str(getattr(engine, "name", "") or name)
        text = Text(f"{name} " if name else "model ")
        text.append("ready" if state == "ready" else "loading…", style=style)
        if detailed and state == "ready":
            precision = getattr(engine, "precision", None)
            extras = [part for part in (where, precision) if isinstance(part, str) and part]
            if host:
                extras = [host]
            if extras:
                text.append(f" ({', '.join(extras)})")
        return text

    def fields(self, width: int | None = None) -> list[Text]:
        """The bar's fields, left to right, as many as fit in `width` cells."""
        if self.goal:
            done = self.words >= self.goal
            words = Text(f"{self.words}/{self.goal} words", style="green" if done else "")
        else:
            words = Text(f"{self.words} word{'s' if self.words != 1 else ''}")
        fields = {
            "title": Text(self.title or "Untitled", style="bold"),
            "words": words,
            "preset": Text(self.preset),
            "model": self._model(detailed=True),
            "context": Text(self.context_fill),
            "learn": Text(self.learn, style="bold"),
            "save": Text(self.save_state, style=SAVE_STYLES.get(self.save_state, "")),
        }
        fields = {name: text for name, text in fields.items() if text.plain}

        def fits() -> bool:
            used = sum(t.cell_len for t in fields.values()) + len(SEPARATOR) * (len(fields) - 1)
            return width is None or used <= width

        for name in DROP_ORDER:
            if fits():
                break
            if name == "model detail":
                fields["model"] = self._model(detailed=False)
            else:
                fields.pop(name, None)
        return list(fields.values())

    def render(self) -> Text:
        width = self.content_size.width or None
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, field in enumerate(self.fields(width)):
            if index:
                text.append(SEPARATOR, style="dim")
            text.append_text(field)
        return text
