"""Token probabilities: a candidate's tokens shaded by how likely the model found them, and the
next-token distribution at the cursor.

`TokenProbsScreen` (p in the candidates panel, shift+f9 for the last inserted text): left/right move
along the tokens, the list below shows the highlighted token's top alternatives with
percentages; enter on one swaps it in and continues from there. `NextTokenScreen` (f7): the top
10 next tokens at the cursor; enter inserts one.

Shading is by the model's probability of the token (before sampling settings), in four bands,
each with a text attribute as well as a colour so the bands read in 16-colour terminals and
every theme alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from writer.engine.types import TokenChoice, TokenLogprobs
from writer.ui.keys import key_for, keys_for

# (lowest probability, label, style): bold/underline/reverse carry the band without colour.
BANDS: tuple[tuple[float, str, str], ...] = (
    (0.5, "likely ≥50%", "$text"),
    (0.15, "15–50%", "underline $success"),
    (0.02, "2–15%", "bold $warning"),
    (0.0, "rare <2%", "bold reverse $error"),
)


def band_style(logprob: float) -> str:
    """The shading style of a token with this natural-log probability."""
    p = math.exp(logprob) if logprob > float("-inf") else 0.0
    for floor, _, style in BANDS:
        if p >= floor:
            return style
    return BANDS[-1][2]


def percent(logprob: float) -> str:
    """A log-probability as a percentage for people: 42%, 3.1%, <0.1%; "?" when unknown (a
    server that does not give it)."""
    if math.isnan(logprob):
        return "?"
    p = 100 * math.exp(logprob) if logprob > float("-inf") else 0.0
    if p >= 10:
        return f"{p:.0f}%"
    if p >= 0.1:
        return f"{p:.1f}%"
    return "0%" if p == 0 else "<0.1%"


def legend() -> Content:
    """One line naming the bands in their own styles."""
    parts: list[tuple[str, str] | str] = ["shading = model probability: "]
    for i, (_, label, style) in enumerate(BANDS):
        parts.append((f" {label} ", style))
        if i < len(BANDS) - 1:
            parts.append(" ")
    return Content.assemble(*parts)


def shown(text: str) -> str:
    """A token's text as it can be seen in a list: spaces and newlines made visible."""
    return text.replace("\n", "⏎").replace(" ", "·") if text.strip() == "" else text


def shaded_tokens(tokens: Sequence[TokenLogprobs], cursor: int | None = None) -> Content:
    """The tokens' texts, each in its band's style; the one at `cursor` framed by ▸◂."""
    parts: list[tuple[str, str] | str] = []
    for i, tok in enumerate(tokens):
        text = tok.text.replace("\n", "⏎\n") or "·"
        if i == cursor:
            parts.append(("▸", "bold $accent"))
            parts.append((text, f"{band_style(tok.logprob)} italic"))
            parts.append(("◂", "bold $accent"))
        else:
            parts.append((text, band_style(tok.logprob)))
    return Content.assemble(*parts)


@dataclass(frozen=True)
class SwapChoice:
    """Put `choice` in place of token `position` of the viewed text and continue from it."""

    position: int
    choice: TokenChoice


class TokenProbsScreen(ModalScreen["SwapChoice | None"]):
    """A text's tokens shaded by probability; the highlighted token's alternatives below."""

    DEFAULT_CSS = """
    TokenProbsScreen { align: center middle; }
    TokenProbsScreen > Vertical {
        width: 95%; height: 90%; border: thick $primary; background: $surface; padding: 0 1;
    }
    TokenProbsScreen #tokens { height: auto; max-height: 60%; overflow-y: auto; }
    TokenProbsScreen #legend { color: $text-muted; margin: 1 0; }
    TokenProbsScreen #token-info { text-style: bold; }
    TokenProbsScreen OptionList { height: 1fr; }
    """
    BINDINGS = [
        # escape, or the key that opened it (p in the panel, shift+f9 in the editor).
        Binding("escape,p,shift+f9", "dismiss(None)", "Close"),
        Binding("left", "move(-1)", "Previous token", show=False),
        Binding("right", "move(1)", "Next token", show=False),
        Binding("home", "move(-100000)", "First token", show=False),
        Binding("end", "move(100000)", "Last token", show=False),
    ]

    def __init__(self, tokens: Sequence[TokenLogprobs], title: str, position: int = 0) -> None:
        super().__init__()
        self.tokens = list(tokens)
        self.title_text = title
        self.position = max(0, min(position, len(self.tokens) - 1))

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            left, right = key_for(self, "move(-1)"), key_for(self, "move(1)")
            choose = f"{key_for(OptionList, 'cursor_up')}/{key_for(OptionList, 'cursor_down')}"
            close = "/".join(keys_for(self, "dismiss(None)")[:2])
            box.border_subtitle = (
                f"{left}/{right}: token · {choose}, {key_for(OptionList, 'select')}: swap in "
                f"and continue · {close}: close"
            )
            yield Static(id="tokens")
            yield Static(legend(), id="legend")
            yield Label(id="token-info")
            yield OptionList(id="alternatives")

    def on_mount(self) -> None:
        self._show()
        self.query_one(OptionList).focus()

    def action_move(self, step: int) -> None:
        if self.tokens:
            self.position = max(0, min(self.position + step, len(self.tokens) - 1))
            self._show()

    def _show(self) -> None:
        self.query_one("#tokens", Static).update(shaded_tokens(self.tokens, self.position))
        info = self.query_one("#token-info", Label)
        options = self.query_one(OptionList)
        options.clear_options()
        if not self.tokens:
            info.update("This text has no recorded tokens.")
            return
        tok = self.tokens[self.position]
        sampled = percent(tok.sampled_logprob)
        # Content, not a markup string: a token such as "[b]" is text, not a style.
        info.update(
            Content(
                f"token {self.position + 1}/{len(self.tokens)} {shown(tok.text)!r}: "
                f"model {percent(tok.logprob)}, sampling {sampled}"
            )
        )
        for j, alt in enumerate(tok.top):
            mark = "✓" if alt.token_id == tok.token_id else " "
            row = Content.assemble(
                f"{mark} {percent(alt.logprob):>6}  ",
                (repr(shown(alt.text)), band_style(alt.logprob)),
                (f"  (sampling {percent(alt.sampled_logprob)})", "$text-muted"),
            )
            options.add_option(Option(row, id=f"alt-{j}"))
        options.highlighted = 0 if tok.top else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        tok = self.tokens[self.position]
        choice = tok.top[event.option_index]
        if "\ufffd" in choice.text:
            self.notify("That token is part of a character; pick another.", severity="warning")
            return
        self.dismiss(SwapChoice(self.position, choice))


class NextTokenScreen(ModalScreen["TokenChoice | None"]):
    """The most likely next tokens at the cursor, with percentages; enter inserts one."""

    DEFAULT_CSS = """
    NextTokenScreen { align: center middle; }
    NextTokenScreen > Vertical {
        width: 60; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    NextTokenScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape,f7", "dismiss(None)", "Close")]  # f7 opened it

    def __init__(self, choices: Sequence[TokenChoice]) -> None:
        super().__init__()
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Next token at the cursor"
            box.border_subtitle = (
                f"{key_for(OptionList, 'select')}: insert · {key_for(self, 'dismiss(None)')}: close"
            )
            options = [
                Option(
                    Content.assemble(
                        f"{percent(c.logprob):>6}  ",
                        (repr(shown(c.text)), band_style(c.logprob)),
                        (f"  (sampling {percent(c.sampled_logprob)})", "$text-muted"),
                    ),
                    id=f"next-{i}",
                )
                for i, c in enumerate(self.choices)
            ]
            if not options:
                options = [Option("this model gives no token probabilities", disabled=True)]
            yield OptionList(*options)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        choice = self.choices[event.option_index]
        if "\ufffd" in choice.text:
            self.notify("That token is part of a character; pick another.", severity="warning")
            return
        self.dismiss(choice)
