"""The learn dialog: the new model's name and the number of steps, before anything trains.

Dismisses with a `LearnRequest`, or None (escape). A name that is taken (a model, or an
interrupted fine-tune) is refused here in one line; an interrupted learn run of the name is
continued when the picks are the same, else started over (the dialog says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from writer.errors import WriterError

SUFFIX = "-taste"


@dataclass(frozen=True)
class LearnRequest:
    """What the author confirmed: the new model's name, and steps (None: 3 passes)."""

    name: str
    steps: int | None


def taken(name: str) -> str:
    """Why `name` cannot be the new model's name ("" when it can)."""
    from writer.engine.models import check_model_name
    from writer.paths import models_dir
    from writer.training import checkpoint

    try:
        check_model_name(name)
    except WriterError as exc:
        return str(exc)
    if (models_dir() / name).exists():
        return f"a model named {name!r} exists; pick another name"
    if checkpoint.exists(name):
        return f"an interrupted fine-tune is named {name!r}; pick another name"
    return ""


def default_name(base: str) -> str:
    """`<base>-taste` (a folder's own name for a folder), numbered past the names taken."""
    stem = PurePath(base.rstrip("/\\")).name or "model"
    stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).lstrip(".")[:50]
    stem = re.sub(rf"{SUFFIX}(-\d+)?$", "", stem)  # a learned model's name: its base's stem
    name = f"{stem or 'model'}{SUFFIX}"
    number = 2
    while taken(name) and number < 100:
        name = f"{stem or 'model'}{SUFFIX}-{number}"
        number += 1
    return name


class LearnDialog(ModalScreen[LearnRequest | None]):
    """Name and steps for `writer learn` on the open draft's picks; enter starts it."""

    DEFAULT_CSS = """
    LearnDialog { align: center middle; }
    LearnDialog > Vertical {
        width: 76; max-width: 95%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    LearnDialog #about { margin-bottom: 1; }
    LearnDialog #problem { color: $error; height: auto; }
    LearnDialog Horizontal { height: auto; align-horizontal: right; }
    LearnDialog Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, base: str, pairs: int, key: str, current: str | None = None) -> None:
        """`base`: the model to learn from; `current`: the draft's model, when not the base
        (a LoRA fine-tune: it is learned again from its base)."""
        super().__init__()
        self.base = base
        self.pairs = pairs
        self.key = key
        self.current = current or base

    def compose(self) -> ComposeResult:
        base = self.base
        if self.current != base:
            base = f"{base} (the base of {self.current}, a LoRA fine-tune)"
        with Vertical() as box:
            box.border_title = "Learn from your picks"
            yield Static(
                f"{self.pairs} preference pair(s) from this draft's picks teach a copy of "
                f"{base} your taste (DPO). Training runs in the background: keep writing; "
                f"{self.key} again stops it and keeps a checkpoint. When done, the draft "
                f"switches to the new model; f5 switches back to {self.current}.",
                id="about",
                markup=False,
            )
            yield Label("Name of the new model")
            yield Input(default_name(self.current), id="name")
            yield Label("Steps (empty: 3 passes over the pairs)")
            yield Input("", id="steps", type="integer", placeholder="3 passes")
            yield Static("", id="problem", markup=False)
            with Horizontal():
                yield Button("Learn", id="learn", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._check_name(self.query_one("#name", Input).value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "name":
            self._check_name(event.value.strip())

    def _check_name(self, name: str) -> str:
        from writer.training.learn import has_checkpoint

        problem = taken(name) if name else "give the new model a name"
        note = ""
        if not problem and has_checkpoint(name):
            note = (
                f"An interrupted run of {name} exists: it continues (with its own steps) if the "
                "picks are the same, else it starts over."
            )
        self.query_one("#problem", Static).update(problem or note)
        return problem

    def request(self) -> LearnRequest | None:
        """The request as typed, or None (the problem is shown in the dialog)."""
        name = self.query_one("#name", Input).value.strip()
        if self._check_name(name):
            return None
        text = self.query_one("#steps", Input).value.strip()
        steps = None
        if text:
            steps = int(text) if text.isdigit() else 0
            if steps < 1:
                self.query_one("#problem", Static).update("steps must be a whole number from 1")
                return None
        return LearnRequest(name, steps)

    def _submit(self) -> None:
        request = self.request()
        if request is not None:
            self.dismiss(request)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "learn":
            self._submit()
        else:
            self.dismiss(None)
