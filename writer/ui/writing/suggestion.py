"""The inline suggestion (Write With Transformer's idea, off by default): after a pause in typing,
one short greyed continuation at the cursor; right arrow accepts it, any other key dismisses it.

Config: `inline_suggestion = true` and `suggestion_pause = SECONDS` in config.toml. The ghost
text is Textual's own `TextArea.suggestion` (drawn at the cursor in the `text-area--suggestion`
style; right arrow inserts it, which is why right arrow is the accept key: tab already moves to
the candidates, and right arrow at the end of the text otherwise does nothing, as in fish's and
zsh's autosuggestions).

One request at a time, one candidate, up to SUGGESTION_TOKENS tokens, cut at the end of its first
sentence, from the loaded engine on a thread worker. Every keystroke (and every cursor move) cancels
the running request (the engine checks the cancel signal every token), removes the suggestion
and starts the pause again. Nothing is asked while candidates are streaming, while text is
selected, in a read-only editor, before a model is ready, or under a dialog; a failed request
is dropped silently (it was only a hint, and the next pause tries again).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.timer import Timer

    from writer.ui.widgets.editor import StoryEditor

ACCEPT_KEY = "right"
SUGGESTION_TOKENS = 12
PROMPT_CHARS = 4096  # the end of the story is all a 12-token guess needs
# The end of the first sentence: ., ! or ? (with closing quotes) then a space; or a line break.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|\n")


def first_sentence(text: str) -> str:
    """`text` up to the end of its first sentence (or line), without trailing spaces."""
    match = _SENTENCE_END.search(text)
    if match:
        text = text[: match.start()] if match.group() == "\n" else text[: match.end()]
    return text.rstrip()


class InlineSuggester:
    """The pause timer, the request and the ghost text of one StoryEditor."""

    def __init__(
        self,
        editor: StoryEditor,
        pause: float,
        *,
        engine: Callable[[], Any],
        params: Callable[[], Any],
        context: Callable[[], Any],
    ) -> None:
        self.editor = editor
        self.pause = pause
        self._engine, self._params, self._context = engine, params, context
        self._timer: Timer | None = None
        self._cancel: threading.Event | None = None
        self._request = 0
        self._shown_at: tuple[int, int] | None = None
        self._in_flight = 0  # requests still on a worker (a cancelled one ends within a token)
        editor.watch(editor, "selection", self._moved, init=False)

    @property
    def running(self) -> bool:
        """Whether a request is still on its worker thread."""
        return self._in_flight > 0

    @classmethod
    def for_editor(
        cls,
        editor: StoryEditor,
        *,
        engine: Callable[[], Any],
        params: Callable[[], Any],
        context: Callable[[], Any],
    ) -> InlineSuggester | None:
        """A suggester when config.toml turns the option on, else None. It is handed getters
        of the loaded engine (None while loading), of the next request's sampling parameters
        and of the draft's story context."""
        config = getattr(editor.app, "config", None)
        if not getattr(config, "inline_suggestion", False):
            return None
        pause = float(getattr(config, "suggestion_pause", 1.0))
        return cls(editor, pause, engine=engine, params=params, context=context)

    # -- what the author does -----------------------------------------------------------------
    def key(self, key: str) -> None:
        """A key reached the editor: the accept key with a suggestion shown is left to the
        TextArea (which inserts it); any other key dismisses and waits for the next pause."""
        if key == ACCEPT_KEY and self.editor.suggestion:
            return
        self.dismiss()
        self._restart_timer()

    def _moved(self, selection: Any) -> None:
        if self.editor.suggestion and selection.end == self._shown_at:
            return
        self.dismiss()
        self._restart_timer()

    def dismiss(self) -> None:
        """Remove the suggestion and cancel the request that would show one."""
        self._request += 1
        if self._cancel is not None:
            self._cancel.set()
            self._cancel = None
        self._shown_at = None
        if self.editor.suggestion:
            self.editor.suggestion = ""

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.editor.set_timer(self.pause, self._paused, name="inline-suggestion")

    # -- asking ---------------------------------------------------------------------------------
    def _paused(self) -> None:
        self._timer = None
        editor, app = self.editor, self.editor.app
        engine = self._engine()
        if (
            engine is None
            or not editor.has_focus
            or editor.read_only  # a draft open read-only elsewhere: nothing may go in
            or editor.screen is not app.screen
            or not editor.selection.is_empty
            or editor.suggestion
            or self._candidates_running()
        ):
            return
        prompt = editor.text_before_cursor(PROMPT_CHARS)
        if not prompt.strip():
            return
        try:
            params = self._params().replace(max_new_tokens=SUGGESTION_TOKENS)
        except Exception:
            return
        context = self._story_context()
        self.dismiss()  # a new request replaces any running one
        cancel = threading.Event()
        self._cancel = cancel
        request = self._request
        at = editor.cursor_location
        self._in_flight += 1
        editor.run_worker(
            lambda: self._ask(engine, prompt, params, cancel, request, at, context),
            thread=True,
            group="inline-suggestion",
            exit_on_error=False,
        )

    def _story_context(self) -> Any:
        """The draft's story context (memory, note, lorebook), or None when it has none."""
        try:
            context = self._context()
        except Exception:
            return None  # an unreadable context is reported where it is edited, not here
        return None if context.empty else context

    def _candidates_running(self) -> bool:
        from writer.ui.widgets.candidates import CandidatesPanel

        panels = self.editor.screen.query(CandidatesPanel)
        return any(getattr(panel, "running", False) for panel in panels)

    def _ask(
        self,
        engine: Any,
        prompt: str,
        params: Any,
        cancel: threading.Event,
        request: int,
        at: tuple[int, int],
        context: Any = None,
    ) -> None:
        """On a worker thread: one short candidate, shown if nothing happened meanwhile."""
        from textual.worker import get_current_worker

        from writer.engine.types import CandidateDone, TokenDelta
        from writer.ui.widgets.editor import prompt_text

        worker = get_current_worker()  # cancelled when the app closes

        def stop() -> bool:
            return cancel.is_set() or worker.is_cancelled

        text, events = "", None
        try:
            events = engine.stream(
                prompt_text(prompt),
                params,
                n=1,
                seed=random.randrange(2**31),
                cancel=stop,
                # Only when the draft has one, as the candidates do (not every engine takes it).
                **({"context": context} if context is not None else {}),
            )
            for event in events:
                if stop():
                    break
                if isinstance(event, TokenDelta):
                    text += event.text
                    if _SENTENCE_END.search(text):
                        break  # the first sentence is complete: no need for more tokens
                elif isinstance(event, CandidateDone):
                    text = event.candidate.text
        except Exception:
            text = ""  # a hint that failed is no news; the next pause asks again
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # stops the engine's generator if we left it early
            try:
                self.editor.app.call_from_thread(self._show, request, at, prompt, text)
            except RuntimeError:
                pass  # the app is closing

    def _show(self, request: int, at: tuple[int, int], prompt: str, text: str) -> None:
        self._in_flight -= 1
        editor = self.editor
        if request != self._request or editor.cursor_location != at or not editor.has_focus:
            return
        text = editor.joined_at_cursor(first_sentence(text))  # the one join rule
        if not text.strip():
            return
        self._shown_at = at
        editor.suggestion = text
