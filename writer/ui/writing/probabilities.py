"""Token probabilities on the writing screen: the view of a candidate (p in the candidates
panel) or of the text just inserted (shift+f9), swap-and-continue from either, and the next
token at the cursor (f7).

`Probabilities` is owned by the writing screen beside `Generation`, whose requests it reuses: a
swap puts the text up to the swapped token and the alternative into the story as one undo step,
then asks for N candidates from there exactly as ctrl+g would. It owns the last inserted text
and its tokens. The engine call of f7 runs in a thread worker that only posts a message to the
screen, which hands it back here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from writer.engine.types import DEFAULT_LOGPROBS, Engine, TokenChoice, TokenLogprobs
from writer.errors import error_line, log_exception
from writer.presets import SamplingParams
from writer.ui.keys import key_for
from writer.ui.screens.tokens import NextTokenScreen, SwapChoice, TokenProbsScreen
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import prompt_text

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost

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


class Probabilities:
    """p / shift+f9 / f7 and swap-and-continue, for the writing screen."""

    def __init__(self, screen: WritingHost) -> None:
        self.screen = screen
        self._last_insert: InsertedText | None = None

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
        editor = self.screen.editor
        try:
            start = editor.document.get_index_from_location(last.start)
            end_location = editor.document.get_location_from_index(start + len(last.text))
        except ValueError:  # the story is shorter than that now
            return None
        if editor.get_text_range(last.start, end_location) != last.text:
            return None  # edited since: its tokens no longer describe the text
        return last

    # -- the views ----------------------------------------------------------------------------
    def show_candidate(self, message: CandidatesPanel.ProbabilitiesRequested) -> None:
        """p in the panel: the highlighted candidate's tokens, and a swap from any of them."""
        app = self.screen.app
        panel = message.panel
        tokens = panel.tokens[message.index] if message.index < len(panel.tokens) else ()
        if not tokens:
            app.notify(
                "No token probabilities for this candidate yet (it is still being written, "
                "or the model does not give them)."
            )
            return
        if panel.mode != "continue":
            app.notify("Token probabilities are shown for continuations, not plot ideas.")
            return

        def done(swap: SwapChoice | None) -> None:
            if swap is not None:
                stem = "".join(t.text for t in tokens[: swap.position]) + swap.choice.text
                self._swap_and_continue(stem, None)

        title = f"Candidate {message.index + 1}: token probabilities"
        app.push_screen(TokenProbsScreen(tokens, title), done)

    def show_inserted(self) -> None:
        """shift+f9: the view of the text inserted last, while it is still the last generation."""
        app = self.screen.app
        last = self._inserted_still_there()
        if last is None:
            app.notify(
                f"{key_for(type(self.screen), 'inserted_probabilities')} shows the last "
                "inserted continuation's tokens; there is none "
                "(or it was edited, or another request came since)."
            )
            return

        def done(swap: SwapChoice | None) -> None:
            if swap is not None and self._inserted_still_there() is last:
                stem = "".join(t.text for t in last.tokens[: swap.position]) + swap.choice.text
                self._swap_and_continue(stem, last)

        title = "Inserted text: token probabilities"
        app.push_screen(TokenProbsScreen(last.tokens, title), done)

    def _swap_and_continue(self, stem: str, replacing: InsertedText | None) -> None:
        """Put `stem` in the story (in place of `replacing`, else at the cursor) as one undo
        step, then stream N new candidates from its end."""
        screen = self.screen
        editor = screen.editor
        if editor.read_only:
            screen.app.notify(
                "This draft is open read-only; nothing was changed.", severity="warning"
            )
            return
        if screen.panel.running:
            screen.generation.cancel()
        if replacing is not None:
            start = editor.document.get_index_from_location(replacing.start)
            end = editor.document.get_location_from_index(start + len(replacing.text))
            editor.replace_generated(stem, replacing.start, end)
        else:
            editor.insert_generated(stem)
        editor.focus()
        screen.generation.start("continue")

    # -- the next token at the cursor -------------------------------------------------------
    def next_token(self) -> None:
        """f7: the 10 most likely next tokens at the cursor, with percentages."""
        screen = self.screen
        app = screen.app
        engine = app.model.engine
        if engine is None:
            app.notify("The model is not ready yet.", severity="warning")
            return
        if not engine.supports_logprobs:
            app.notify(f"The model {engine.name!r} gives no token probabilities.")
            return
        prompt = prompt_text(screen.editor.text_before_cursor())
        params = screen.current_params()
        app.run_worker(
            lambda: self._next_tokens(engine, prompt, params),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="next-token",
        )

    def _next_tokens(self, engine: Engine, prompt: str, params: SamplingParams) -> None:
        try:
            choices = engine.next_tokens(prompt, params, DEFAULT_LOGPROBS)
        except Exception as exc:  # shown as a notification; nothing else changes
            log_exception(exc)
            self.screen.post_message(NextTokensReady([], error_line(exc)))
            return
        self.screen.post_message(NextTokensReady(list(choices)))

    def next_tokens_ready(self, message: NextTokensReady) -> None:
        app = self.screen.app
        if message.error:
            app.notify(f"Next token failed: {message.error}", severity="error")
            return

        def done(choice: TokenChoice | None) -> None:
            if choice is None:
                return
            editor = self.screen.editor
            if editor.read_only:
                app.notify("This draft is open read-only.", severity="warning")
                return
            editor.insert_generated(choice.text)
            editor.focus()

        app.push_screen(NextTokenScreen(message.choices), done)
