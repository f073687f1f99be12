"""f2: the sampling parameters, edited in place; an invalid value is refused with its reason.

Validation is `SamplingParams`'s own (writer.presets), so the app, the CLI and presets.toml all
give the same message. Values that differ from the preset become the draft's overrides.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from writer.presets import STOP_RULES, ParamError, SamplingParams
from writer.ui.keys import key_for
from writer.ui.widgets.fields import NumberInput

EDITABLE: list[tuple[str, str]] = [
    ("temperature", "Temperature"),
    ("top_k", "Top-k"),
    ("top_p", "Top-p"),
    ("repetition_penalty", "Repetition penalty"),
    ("max_new_tokens", "Max new tokens"),
    ("min_p", "Min-p"),
    ("typical_p", "Typical-p"),
    ("repetition_range", "Penalty range (tokens)"),
    ("dry_multiplier", "DRY multiplier"),
    ("dry_base", "DRY base"),
    ("dry_allowed_length", "DRY allowed length"),
    ("ban", "Banned phrases (a | b)"),
    ("bias", "Phrase bias (a=2 | b=-1)"),
    ("no_repeat_ngram_size", "No-repeat n-gram (0 off)"),
    ("stop", "Stop"),
]
CANDIDATES = ("candidates", "Number of candidates")
# Phrases are edited on one line, separated by "|" (commas and semicolons occur in phrases).
PHRASE_FIELDS = ("ban", "bias")


def shown_value(params: SamplingParams, name: str) -> str:
    """A parameter as its input shows it: phrases and several stop texts joined with `|`."""
    value = getattr(params, name)
    if name == "ban":
        return " | ".join(value)
    if name == "bias":
        return " | ".join(f"{phrase}={weight:g}" for phrase, weight in value)
    if name == "stop" and isinstance(value, tuple):
        return "|".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_value(name: str, text: str) -> object:
    """An input's text as the value SamplingParams validates: `ban`/`bias` are phrases
    separated by `|`; `stop` is none, sentence, paragraph, or texts separated by `|` (each
    stops the candidate where it appears)."""
    if name in PHRASE_FIELDS:
        return tuple(part.strip() for part in text.split("|") if part.strip())
    text = text.strip()
    if name == "stop" and text not in STOP_RULES and "|" in text:
        return tuple(text.split("|"))
    return text


def check_candidates(value: str) -> int:
    """1 to 9 candidates: one key each in the candidates panel."""
    try:
        number = int(value)
    except ValueError:
        raise ParamError(f"candidates must be a whole number, 1 to 9; got {value!r}") from None
    if not 1 <= number <= 9:
        raise ParamError(f"candidates must be 1 to 9; got {number}")
    return number


class ParametersScreen(ModalScreen["tuple[SamplingParams, int] | None"]):
    """Dismisses with (params, candidates) when every value is valid, or None on escape."""

    DEFAULT_CSS = """
    ParametersScreen { align: center middle; }
    ParametersScreen > Vertical {
        width: 80; max-width: 95%; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ParametersScreen VerticalScroll { height: 1fr; }
    ParametersScreen .row { height: 1; margin-top: 1; }
    ParametersScreen .row Label { width: 26; }
    ParametersScreen .row Input { width: 1fr; }
    ParametersScreen .error {
        color: $error; width: 100%; height: auto; padding-left: 26; display: none;
    }
    ParametersScreen .error.-shown { display: block; }
    ParametersScreen #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ParametersScreen Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "apply", "Apply", priority=True),
    ]

    def __init__(self, params: SamplingParams, candidates: int, preset: str) -> None:
        super().__init__()
        self.params = params
        self.candidates = candidates
        self.preset = preset

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Parameters (preset {self.preset})"
            box.border_subtitle = (
                f"enter/{key_for(self, 'apply')}: apply · {key_for(self, 'dismiss(None)')}: cancel"
            )
            with VerticalScroll():
                for name, label in [*EDITABLE, CANDIDATES]:
                    if name == "candidates":
                        shown = str(self.candidates)
                    else:
                        shown = shown_value(self.params, name)
                    with Horizontal(classes="row"):
                        yield Label(label)
                        yield self._field(name, label, shown)
                    yield Label("", id=f"{name}-error", classes="error")
            with Horizontal(id="buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def _field(self, name: str, label: str, shown: str) -> Input:
        """A number's field refuses letters (visibly); the others take any text."""
        value = self.candidates if name == "candidates" else getattr(self.params, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Input(shown, id=name, compact=True)
        return NumberInput(shown, what=label, whole=isinstance(value, int), id=name, compact=True)

    def on_mount(self) -> None:
        self.query_one("#temperature", Input).focus()

    def _check(self, name: str, value: str) -> str:
        """'' if `value` is valid for `name`, else the reason."""
        try:
            if name == "candidates":
                check_candidates(value)
            else:
                self.params.replace(**{name: field_value(name, value)})
        except (ParamError, TypeError, ValueError) as exc:
            return str(exc)
        return ""

    def _show(self, name: str, reason: str) -> None:
        label = self.query_one(f"#{name}-error", Label)
        label.update(reason)
        label.set_class(bool(reason), "-shown")
        self.query_one(f"#{name}", Input).set_class(bool(reason), "-invalid")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self._show(event.input.id, self._check(event.input.id, event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        """Apply if every value is valid; otherwise stay, show why, focus the first bad one."""
        values = {name: self.query_one(f"#{name}", Input).value for name, _ in EDITABLE}
        first_bad = None
        for name, _ in [*EDITABLE, CANDIDATES]:
            value = self.query_one(f"#{name}", Input).value
            reason = self._check(name, value)
            self._show(name, reason)
            if reason and first_bad is None:
                first_bad = name
        if first_bad is not None:
            self.query_one(f"#{first_bad}", Input).focus()
            self.app.bell()
            return
        params = self.params.replace(**{k: field_value(k, v) for k, v in values.items()})
        self.dismiss((params, check_candidates(self.query_one("#candidates", Input).value)))
