"""The status bar: draft title, word count, preset, model state, context fill, last speed,
save state."""

from __future__ import annotations

from typing import Literal

from rich.text import Text
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

    title: reactive[str] = reactive("")
    words: reactive[int] = reactive(0)
    goal: reactive[int | None] = reactive(None)
    """The draft's word goal: the count shows as `812/1000 words` while one is set."""
    preset: reactive[str] = reactive("")
    model_state: reactive[ModelState] = reactive("loading")
    model_detail: reactive[str] = reactive("")
    speed: reactive[float | None] = reactive(None)
    save_state: reactive[SaveState] = reactive("saved")
    context_fill: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.title or "Untitled", style="bold")
        if self.goal:
            done = self.words >= self.goal
            text.append(f"  {self.words}/{self.goal} words", style="green" if done else "")
        else:
            text.append(f"  {self.words} word{'s' if self.words != 1 else ''}")
        text.append(f"  preset: {self.preset}")
        model_styles = {"ready": "green", "loading": "yellow", "error": "bold red"}
        text.append("  model: ")
        state = {"loading": "loading…", "none": "—"}.get(self.model_state, self.model_state)
        text.append(state, style=model_styles.get(self.model_state, ""))
        if self.model_detail:
            text.append(f" ({self.model_detail})")
        if self.context_fill:
            text.append(f"  {self.context_fill}")
        if self.speed is not None:
            text.append(f"  {self.speed:.1f} tok/s")
        text.append(f"  {self.save_state}", style=SAVE_STYLES.get(self.save_state, ""))
        return text
