"""The candidates panel: continuations (or plot ideas) streaming in, labelled 1..N.

`1`..`9` choose candidate N; `up`/`down` + `enter` choose the highlighted one. Choosing posts
`CandidatesPanel.Chosen`; the app inserts the text into the editor and gives focus back. `p`
asks for the highlighted candidate's token probabilities (`ProbabilitiesRequested`); the
panel keeps each finished candidate's tokens for that (`tokens`). `t` toggles shading in the
panel itself: each finished continuation's tokens in the probability bands of the `p` view
(theme colours plus a text attribute), with the bands' legend in the border.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from writer.engine.types import TokenLogprobs
from writer.ui.keys import key_for, keys_for
from writer.ui.screens.tokens import BANDS, band_style

TITLES = {"continue": "Continuations", "ideas": "Plot ideas"}


class CandidatesPanel(OptionList):
    """A list of streaming candidates; hidden until a request starts."""

    DEFAULT_CSS = """
    CandidatesPanel {
        height: auto;
        max-height: 45%;
        border: round $primary 60%;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        display: none;
    }
    CandidatesPanel.-open {
        display: block;
    }
    CandidatesPanel:focus {
        border: round $primary;
    }
    CandidatesPanel > .option-list--option {
        padding: 0 0 1 0;
    }
    """

    BINDINGS = [
        *(Binding(str(n), f"choose({n - 1})", f"Insert {n}", show=False) for n in range(1, 10)),
        Binding("p", "probabilities", "Probabilities", show=False),
        Binding("t", "toggle_shading", "Shade by probability", show=False),
        # Shaping the highlighted candidate before it goes in.
        Binding("s", "choose_sentence", "First sentence", show=False),
        Binding("c", "continue_candidate", "Continue it", show=False),
        Binding("e", "edit_candidate", "Edit it", show=False),
    ]

    @dataclass
    class ProbabilitiesRequested(Message):
        """The author wants to see candidate `index`'s token probabilities."""

        panel: CandidatesPanel
        index: int

    @dataclass
    class Chosen(Message):
        """The author chose candidate `index` (0-based) whose current text is `text`."""

        panel: CandidatesPanel
        index: int
        text: str
        mode: str

    @dataclass
    class ContinueRequested(Message):
        """The author wants N new candidates that continue candidate `index` (`text`)."""

        panel: CandidatesPanel
        index: int
        text: str

    def __init__(self, join: Callable[[str], str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        # How a candidate's text goes into the story (the editor's join rule at the cursor), so
        # the panel shows each candidate as it will go in.
        self.join: Callable[[str], str] = join or (lambda text: text)
        self.request = 0
        self.mode = "continue"
        self.texts: list[str] = []
        self.finished: list[bool] = []
        self.tokens: list[tuple[TokenLogprobs, ...]] = []
        self.running = False
        self.continuing = ""  # the candidate text this request continues ("" for the story)
        self.shading = False  # t: tokens shaded by probability (kept across requests)
        self._note = ""

    # -- lifecycle of one request ---------------------------------------------------------------
    def start(self, request: int, mode: str, n: int) -> None:
        """Open the panel with `n` empty candidates for `request`."""
        self.request = request
        self.mode = mode
        self.texts = [""] * n
        self.finished = [False] * n
        self.tokens = [()] * n
        self.running = True
        self.set_options(Option(self._render_candidate(i)) for i in range(n))
        self.highlighted = 0 if n else None
        self.add_class("-open")
        self._update_titles()

    def waiting(self, text: str) -> None:
        """Show why nothing streams yet (e.g. the model is still loading)."""
        self.border_subtitle = text

    def add_deltas(self, deltas: dict[int, str]) -> None:
        """Append streamed text to each candidate."""
        for index, piece in deltas.items():
            if 0 <= index < len(self.texts):
                self.texts[index] += piece
                self.replace_option_prompt_at_index(index, self._render_candidate(index))

    def finish_candidate(
        self, index: int, text: str, tokens: tuple[TokenLogprobs, ...] = ()
    ) -> None:
        """Candidate `index` is final: `text` is its definitive text (stop rules may trim it),
        `tokens` its per-token probabilities when the engine gave them."""
        if 0 <= index < len(self.texts):
            self.texts[index] = text
            self.tokens[index] = tokens
            self.finished[index] = True
            self.replace_option_prompt_at_index(index, self._render_candidate(index))

    def finish(self, note: str = "") -> None:
        """The request ended; `note` (e.g. speed) goes in the subtitle."""
        self.running = False
        self._update_titles(note)

    def close(self) -> None:
        self.running = False
        self.remove_class("-open")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    # -- rendering ------------------------------------------------------------------------------
    def _render_candidate(self, index: int) -> Content:
        label = (f"{index + 1} ", "bold $accent")
        if self.shading and self.mode == "continue" and self._shadable(index):
            return Content.assemble(label, self._shaded(index))
        text = self.texts[index]
        if self.mode == "continue" and not self.continuing and text:
            text = self.join(text)
        body = text.strip("\n") or ("…" if not self.finished[index] else "(empty)")
        if self.mode == "ideas":
            body = " ".join(body.split()) or body
        return Content.assemble(label, body)

    def _shadable(self, index: int) -> bool:
        """A finished candidate whose tokens still spell its text (not edited since)."""
        tokens = self.tokens[index] if index < len(self.tokens) else ()
        return bool(tokens) and "".join(t.text for t in tokens) == self.texts[index]

    def _shaded(self, index: int) -> Content:
        """Candidate `index`'s text, each token in its probability band's style."""
        whole = Content.assemble(*((t.text, band_style(t.logprob)) for t in self.tokens[index]))
        text = whole.plain
        start = len(text) - len(text.lstrip("\n"))
        end = len(text.rstrip("\n"))
        return whole[start:end] if end > start else Content("(empty)")

    def action_toggle_shading(self) -> None:
        """t: shade the candidates' tokens by probability, or show plain text again."""
        if self.mode != "continue":
            self.notify("Plot ideas are shown plain; t shades continuations.")
            return
        if not self.shading and not any(self._shadable(i) for i in range(len(self.texts))):
            self.notify(
                "No token probabilities to shade yet (the candidates are still being written, "
                "or the model does not give them)."
            )
            return
        self.shading = not self.shading
        for index in range(len(self.texts)):
            self.replace_option_prompt_at_index(index, self._render_candidate(index))
        self._update_titles(self._note)

    def _update_titles(self, note: str = "") -> None:
        self._note = note
        title = TITLES.get(self.mode, "Candidates")
        if self.continuing:
            title = f"Continuing “{' '.join(self.continuing.split())[:40]}”"
        self.border_title = f"{title} · generating…" if self.running else title
        keys = self.keys_hint()
        if self.shading and self.mode == "continue":  # the bands' legend, in their styles
            bands = " ".join(f"[{style}]{label}[/]" for _, label, style in BANDS)
            keys = f"shaded: {bands} · t: plain"
        self.border_subtitle = f"{note} · {keys}" if note else keys

    def keys_hint(self) -> str:
        """The panel's keys, read from the bindings (the screen's for tab, again and close)."""
        screen = self.screen if self.is_attached else None
        first, last = key_for(self, "choose(0)"), key_for(self, "choose(8)")
        parts = [f"{first}-{last}: insert", f"{key_for(self, 'probabilities')}: probabilities"]
        for action, what in (("regenerate", "again"), ("cancel", "close")):
            keys = keys_for(screen, action) if screen is not None else []
            if keys:
                parts.append(f"{keys[0]}: {what}")
        focus = keys_for(screen, "app.focus_next") if screen is not None else []
        return " · ".join([f"{focus[0]}: focus", *parts] if focus else parts)

    # -- choosing ---------------------------------------------------------------------------------
    def action_choose(self, index: int) -> None:
        if 0 <= index < len(self.texts):
            self.post_message(self.Chosen(self, index, self.texts[index], self.mode))

    def action_probabilities(self) -> None:
        if self.highlighted is not None and 0 <= self.highlighted < len(self.texts):
            self.post_message(self.ProbabilitiesRequested(self, self.highlighted))

    def _highlighted_text(self) -> tuple[int, str] | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.texts):
            return None
        return index, self.texts[index]

    def action_choose_sentence(self) -> None:
        """s: insert the highlighted candidate only up to the end of its first sentence."""
        from writer.engine.sampling.stops import find_stop  # plain text rules; no torch

        chosen = self._highlighted_text()
        if chosen is not None:
            index, text = chosen
            cut = find_stop(text, "sentence")
            self.post_message(self.Chosen(self, index, text[:cut] if cut else text, self.mode))

    def action_edit_candidate(self) -> None:
        """e: edit the highlighted candidate, then insert what the author made of it."""
        from writer.ui.screens.edit_candidate import EditCandidateScreen

        chosen = self._highlighted_text()
        if chosen is None:
            return
        index, text = chosen
        mode = self.mode

        def done(edited: str | None) -> None:
            if edited is not None:
                self.post_message(self.Chosen(self, index, edited, mode))

        self.app.push_screen(EditCandidateScreen(text), done)

    def action_continue_candidate(self) -> None:
        """c: N new candidates from the story plus the highlighted candidate."""
        chosen = self._highlighted_text()
        if chosen is not None and self.mode == "continue":
            self.post_message(self.ContinueRequested(self, *chosen))
        elif chosen is not None:
            key = "".join(keys_for(self.screen, "generate('continue')")[:1]) or "Continue"
            self.notify(f"Plot ideas are not continued; {key} continues the story.")

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(event.option_index)
