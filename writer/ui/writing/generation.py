"""Generation requests of the writing screen: candidates streamed from a thread worker.

`Generation` is owned by the writing screen and owns what a request is: the request counter,
the running request's cancel event, each request's mode and parameters until it is logged, and
the last kind of request (ctrl+r). The worker only posts messages to the screen (messages.py),
whose handlers hand them back here; every message carries its request id, so a late message of
an earlier request never reaches the panel.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any

from textual.worker import get_current_worker

from writer.engine.types import DEFAULT_LOGPROBS
from writer.errors import error_line, log_exception
from writer.presets import SamplingParams
from writer.ui.keys import key_for
from writer.ui.messages import (
    CandidateDeltas,
    CandidateFinished,
    CandidatesStarted,
    GenerationFailed,
    GenerationFinished,
)
from writer.ui.story_context import needs_context, request_context
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import prompt_text
from writer.ui.writing.streaming import relay_stream

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost


def prompt_chars(engine: Any) -> int:
    """How much of the story's end a request reads: comfortably more characters than the
    model's window holds tokens (a GPT-2 token averages about 4 characters of prose; 16 leaves
    room for long tokens), so the engine still fits the window itself, from a tail only."""
    return max(int(getattr(engine, "context_size", 0) or 0), 2048) * 16


class Generation:
    """Starting, cancelling and showing the writing screen's generation requests."""

    def __init__(self, screen: WritingHost) -> None:
        self.screen = screen
        self.request = 0  # the latest request's id
        self._cancel: threading.Event | None = None
        self._info: dict[int, tuple[str, SamplingParams]] = {}  # mode and params, until logged
        self._last: tuple[str, str] = ("continue", "")  # mode and prefix, for ctrl+r
        # A "continue this candidate" request: its candidates go in after that candidate's text.
        self.prefix: tuple[int, str] = (0, "")

    # -- requests -------------------------------------------------------------------------------
    def start(self, mode: str = "continue", prefix: str = "") -> None:
        """Start N candidates (or plot ideas) from the text before the cursor (and `prefix`,
        a candidate being continued, which is inserted with whichever is chosen)."""
        screen, app = self.screen, self.screen.app
        screen.probabilities.forget_insert()  # an inserted text stops being the last generation
        self._last = (mode, prefix)
        self.request += 1
        request = self.request
        if self._cancel is not None:
            self._cancel.set()
        cancel = threading.Event()
        self._cancel = cancel
        params = screen.current_params()
        n = screen.candidate_count
        seed = random.randrange(2**31)
        model = app.model
        prompt = prompt_text(screen.editor.text_before_cursor(prompt_chars(model.engine))) + prefix
        self._info[request] = (mode, params)
        context = request_context(screen.drafts, screen.editor, len(prefix))
        self.prefix = (request, prefix)
        panel = screen.panel
        panel.continuing = prefix
        panel.start(request, mode, n)
        if not model.settled.is_set():
            panel.waiting("waiting for the model to load…")
        app.run_worker(
            lambda: self._generate(request, prompt, params, n, seed, mode, cancel, context),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="generate",
        )

    def again(self) -> None:
        """The last kind of request again, with a new seed."""
        self.start(*self._last)

    def continue_candidate(self, message: CandidatesPanel.ContinueRequested) -> None:
        """c in the panel: N new candidates continuing the highlighted one."""
        if not message.text.strip():
            self.screen.app.notify(
                f"That candidate is empty; choose another or press {self._again_key()}."
            )
            return
        request, prefix = self.prefix
        base = prefix if request == message.panel.request else ""
        self.start("continue", base + message.text)

    def _again_key(self) -> str:
        return key_for(type(self.screen), "regenerate")

    def cancel(self) -> bool:
        """Stop the running request (the engine checks every token); True if one was running."""
        panel = self.screen.panel
        running = panel.running
        self.stop()
        app = self.screen.app
        app.workers.cancel_group(app, "generate")
        panel.finish("cancelled" if running else "")
        return running

    def stop(self) -> None:
        """Tell the running request's engine to stop (the app is exiting: it need not wait)."""
        if self._cancel is not None:
            self._cancel.set()

    def _generate(
        self,
        request: int,
        prompt: str,
        params: SamplingParams,
        n: int,
        seed: int,
        mode: str,
        cancel: threading.Event,
        context: Any = None,
    ) -> None:
        """The worker: wait for the model, stream, post what comes (never touches widgets)."""
        worker = get_current_worker()
        post = self.screen.post_message
        model = self.screen.app.model

        def stop() -> bool:
            return cancel.is_set() or worker.is_cancelled

        while not model.settled.wait(0.05):
            if stop():
                return
        engine = model.engine
        if engine is None:
            reason = model.error or "no model is loaded"
            post(GenerationFailed(request, f"no model to generate with: {reason}"))
            return
        post(CandidatesStarted(request, mode, n))
        events = None
        try:
            # The draft's story context, only when it has one or recall may be needed (engines
            # without it still work).
            extra = {"context": context} if needs_context(context, prompt, engine, params) else {}
            # Token probabilities for the view (p): one top-k per step, when the engine has them.
            if engine.supports_logprobs:
                extra["logprobs"] = DEFAULT_LOGPROBS
            events = engine.stream(prompt, params, n=n, seed=seed, mode=mode, cancel=stop, **extra)
            relay_stream(events, request, post)
        except Exception as exc:  # reported as a notification; the text is untouched
            log_exception(exc)
            post(GenerationFailed(request, error_line(exc)))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    # -- what the worker posted (handed over by the screen) -------------------------------------
    def started(self, message: CandidatesStarted) -> None:
        panel = self.screen.panel
        if message.request == panel.request:
            panel.waiting("")
            panel.start(message.request, message.mode, message.n)
            # start() resets texts: nothing has streamed for this request yet

    def deltas(self, message: CandidateDeltas) -> None:
        panel = self.screen.panel
        if message.request == panel.request:
            panel.add_deltas(message.deltas)

    def candidate_finished(self, message: CandidateFinished) -> None:
        panel = self.screen.panel
        if message.request == panel.request:
            candidate = message.candidate
            panel.finish_candidate(message.index, candidate.text, candidate.token_logprobs)

    def finished(self, message: GenerationFinished) -> None:
        screen = self.screen
        panel = screen.panel
        done = message.done
        info = self._info.pop(message.request, None)
        if message.request == panel.request:
            speed = done.stats.tokens_per_s
            if not done.cancelled:
                screen.status.speed = speed
            window = getattr(screen.app.model.engine, "context_size", None)
            if done.context is not None:
                screen.context_fill = f"ctx {done.context.total}/{done.context.window}"
            elif window:
                screen.context_fill = f"ctx {done.stats.prompt_tokens}/{window}"
            note = "cancelled" if done.cancelled else f"{speed:.1f} tok/s"
            panel.finish(note)
            for candidate in done.candidates:
                panel.finish_candidate(candidate.index, candidate.text, candidate.token_logprobs)
        if info is not None and done.candidates:
            mode, params = info
            screen.drafts.log_generation(message.request, mode, params, done)

    def failed(self, message: GenerationFailed) -> None:
        self._info.pop(message.request, None)
        panel = self.screen.panel
        if message.request == panel.request:
            panel.finish("failed")
        self.screen.app.notify(
            f"Generation failed: {message.reason}", title="Generate", severity="error"
        )

    def chosen(self, message: CandidatesPanel.Chosen) -> None:
        """Insert the chosen candidate at the editor's cursor as one undo step."""
        screen = self.screen
        app, editor, panel = screen.app, screen.editor, screen.panel
        if not message.text.strip():
            app.notify(f"That candidate is empty; choose another or press {self._again_key()}.")
            return
        if editor.read_only:
            app.notify("This draft is open read-only; nothing was inserted.", severity="warning")
            return
        if panel.running:
            self.cancel()
        if message.mode == "ideas":
            editor.insert_idea(message.text)
        else:
            request, prefix = self.prefix
            prefix = prefix if request == message.panel.request else ""
            start, end = editor.insert_generated(prefix + message.text)
            tokens = panel.tokens[message.index] if message.index < len(panel.tokens) else ()
            # The probabilities of inserted text (shift+f9) describe the candidate alone, so a
            # continued candidate (inserted after its prefix) is not offered there. The text
            # is remembered as the document holds it (it turns "\r\n" and "\r" into "\n").
            inserted = editor.get_text_range(start, end)
            screen.probabilities.remember_insert(start, inserted, () if prefix else tokens)
        screen.drafts.mark_inserted(message.panel.request, message.index)
        panel.close()
        editor.focus()
