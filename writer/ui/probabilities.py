"""Token probabilities in the app: the view of a candidate (p in the candidates panel) or of the
text just inserted (f9), swap-and-continue from either, and the next token at the cursor (f8).

A mixin of `WriterApp` next to `GenerationMixin`, whose requests it reuses: a swap puts the
text up to the swapped token and the alternative into the story as one undo step, then asks
for N candidates from there exactly as ctrl+g would. The engine call of f8 runs in a thread
worker that only posts a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message

from writer.engine.types import DEFAULT_LOGPROBS, Engine, TokenChoice, TokenLogprobs
from writer.errors import error_line
from writer.ui.screens.tokens import NextTokenScreen, SwapChoice, TokenProbsScreen
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import prompt_text

Location = tuple[int, int]


@dataclass(frozen=True)
class InsertedText:
    """The last candidate inserted: where it starts, its text and its tokens."""

    start: Location
    text: str
    tokens: tuple[TokenLogprobs, ...]


@dataclass
class NextTokensReady(Message):
    """The next-token distribution at the cursor arrived from the worker."""

    choices: list[TokenChoice]
    error: str = ""


class ProbabilitiesMixin:
    """p / f9 / f8 and swap-and-continue, for WriterApp."""

    engine: Engine | None
    _last_insert: InsertedText | None = None

    # -- the inserted text ------------------------------------------------------------------
    def remember_insert(
        self, start: Location, text: str, tokens: tuple[TokenLogprobs, ...]
    ) -> None:
        self._last_insert = InsertedText(start, text, tokens) if tokens else None

    def forget_insert(self) -> None:
        self._last_insert = None

    def _inserted_still_there(self) -> InsertedText | None:
        last = self._last_insert
        if last is None:
            return None
        editor = self.editor
        start = editor.document.get_index_from_location(last.start)
        end_location = editor.document.get_location_from_index(start + len(last.text))
        if editor.get_text_range(last.start, end_location) != last.text:
            return None  # edited since: its tokens no longer describe the text
        return last

    # -- the views ----------------------------------------------------------------------------
    def on_candidates_panel_probabilities_requested(
        self, message: CandidatesPanel.ProbabilitiesRequested
    ) -> None:
        panel = message.panel
        tokens = panel.tokens[message.index] if message.index < len(panel.tokens) else ()
        if not tokens:
            self.notify(
                "No token probabilities for this candidate yet (it is still being written, "
                "or the model does not give them)."
            )
            return
        if panel.mode != "continue":
            self.notify("Token probabilities are shown for continuations, not plot ideas.")
            return

        def done(swap: SwapChoice | None) -> None:
            if swap is not None:
                stem = "".join(t.text for t in tokens[: swap.position]) + swap.choice.text
                self._swap_and_continue(stem, None)

        title = f"Candidate {message.index + 1}: token probabilities"
        self.push_screen(TokenProbsScreen(tokens, title), done)

    def action_inserted_probabilities(self) -> None:
        """f9: the view of the text inserted last, while it is still the last generation."""
        last = self._inserted_still_there()
        if last is None:
            self.notify(
                "f9 shows the last inserted continuation's tokens; there is none "
                "(or it was edited, or another request came since)."
            )
            return

        def done(swap: SwapChoice | None) -> None:
            if swap is not None and self._inserted_still_there() is last:
                stem = "".join(t.text for t in last.tokens[: swap.position]) + swap.choice.text
                self._swap_and_continue(stem, last)

        title = "Inserted text: token probabilities"
        self.push_screen(TokenProbsScreen(last.tokens, title), done)

    def _swap_and_continue(self, stem: str, replacing: InsertedText | None) -> None:
        """Put `stem` in the story (in place of `replacing`, else at the cursor) as one undo
        step, then stream N new candidates from its end."""
        editor = self.editor
        if editor.read_only:
            self.notify("This draft is open read-only; nothing was changed.", severity="warning")
            return
        if self.panel.running:
            self.cancel_generation()
        editor.history.checkpoint()
        if replacing is not None:
            start = editor.document.get_index_from_location(replacing.start)
            end = editor.document.get_location_from_index(start + len(replacing.text))
            editor.replace(stem, replacing.start, end)
        else:
            editor.insert(stem)
        editor.history.checkpoint()
        editor.focus()
        self.action_generate("continue")

    # -- the next token at the cursor -------------------------------------------------------
    def action_next_token(self) -> None:
        """f8: the 10 most likely next tokens at the cursor, with percentages."""
        engine = self.engine
        if engine is None:
            self.notify("The model is not ready yet.", severity="warning")
            return
        if not engine.supports_logprobs:
            self.notify(f"The model {engine.name!r} gives no token probabilities.")
            return
        prompt = prompt_text(self.editor.text_before_cursor())
        self._next_tokens(engine, prompt, self.current_params())

    @work(thread=True, exclusive=True, exit_on_error=False, group="next-token")
    def _next_tokens(self, engine: Engine, prompt: str, params: Any) -> None:
        try:
            choices = engine.next_tokens(prompt, params, DEFAULT_LOGPROBS)
        except Exception as exc:  # shown as a notification; nothing else changes
            self._log_exception(exc)
            self.post_message(NextTokensReady([], error_line(exc)))
            return
        self.post_message(NextTokensReady(list(choices)))

    def on_next_tokens_ready(self, message: NextTokensReady) -> None:
        if message.error:
            self.notify(f"Next token failed: {message.error}", severity="error")
            return

        def done(choice: TokenChoice | None) -> None:
            if choice is None:
                return
            if self.editor.read_only:
                self.notify("This draft is open read-only.", severity="warning")
                return
            self.editor.insert_as_one_step(choice.text)
            self.editor.focus()

        self.push_screen(NextTokenScreen(message.choices), done)
