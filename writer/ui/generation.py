"""Model loading and generation for the app: thread workers that only post messages.

A mixin of `WriterApp` so app.py stays about wiring. Torch and transformers are imported only
inside `_load_model` (through `writer.engine`), on a worker thread, so the editor is usable while
the model loads. A request made before the model is ready waits for it in its own worker.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from textual import work
from textual.worker import get_current_worker

from writer.engine.types import DEFAULT_LOGPROBS, Engine
from writer.errors import error_line
from writer.ui.messages import (
    CandidateDeltas,
    CandidateFinished,
    CandidatesStarted,
    GenerationFailed,
    GenerationFinished,
    ModelFailed,
    ModelLoading,
    ModelReady,
)
from writer.ui.streaming import relay_stream
from writer.ui.widgets.candidates import CandidatesPanel
from writer.ui.widgets.editor import prompt_text

EngineLoader = Callable[[str, "str | None"], Engine]


def default_engine_loader(name: str, device: str | None) -> Engine:
    """Load an Engine with writer.engine (imports torch: call it on a worker thread only)."""
    from writer.engine import load_engine

    return load_engine(name, device=device)


def prompt_chars(engine: Any) -> int:
    """How much of the story's end a request reads: comfortably more characters than the
    model's window holds tokens (a GPT-2 token averages about 4 characters of prose; 16 leaves
    room for long tokens), so the engine still fits the window itself, from a tail only."""
    return max(int(getattr(engine, "context_size", 0) or 0), 2048) * 16


class GenerationMixin:
    """Loading the model and streaming candidates into the candidates panel."""

    engine: Engine | None = None
    model_name: str = ""
    model_error: str = ""
    _engine_loader: EngineLoader
    _model_settled: threading.Event
    _request: int = 0
    _cancel: threading.Event | None = None
    _last_mode: str = "continue"
    _last_prefix: str = ""
    # A "continue this candidate" request: its candidates go in after that candidate's text.
    _prefix: tuple[int, str] = (0, "")
    _request_info: dict[int, dict[str, Any]]

    # -- the model ------------------------------------------------------------------------------
    def load_model(self, name: str) -> None:
        """(Re)load model `name` in a worker; requests made meanwhile wait for it."""
        self.engine = None
        self.model_name = name
        self.model_error = ""
        self._model_settled.clear()
        self.post_message(ModelLoading(name))
        self._load_model(name, self.device)

    @work(thread=True, exclusive=True, exit_on_error=False, group="model")
    def _load_model(self, name: str, device: str | None) -> None:
        try:
            engine = self._engine_loader(name, device)
        except Exception as exc:  # any failure is shown in the status bar, never a crash
            self._log_exception(exc)
            self.post_message(ModelFailed(name, error_line(exc)))
        else:
            self.post_message(ModelReady(name, engine, str(getattr(engine, "device", ""))))

    def on_model_loading(self, message: ModelLoading) -> None:
        self.writing.model_state = "loading"
        self.writing.model_detail = message.name

    def on_model_ready(self, message: ModelReady) -> None:
        if message.name != self.model_name:
            return  # a model we switched away from finished loading late
        self.engine = message.engine
        self.writing.model_state = "ready"
        self.writing.model_detail = f"{message.name}, {message.device}".strip(", ")
        self._model_settled.set()

    def on_model_failed(self, message: ModelFailed) -> None:
        if message.name != self.model_name:
            return
        self.model_error = message.reason
        self.writing.model_state = "error"
        self.writing.model_detail = message.reason
        self._model_settled.set()
        self.notify(
            f"Model {message.name!r} did not load: {message.reason}",
            title="Model",
            severity="error",
            timeout=10,
        )

    # -- requests -------------------------------------------------------------------------------
    def action_generate(self, mode: str = "continue", prefix: str = "") -> None:
        """Start N candidates (or plot ideas) from the text before the cursor (and `prefix`,
        a candidate being continued, which is inserted with whichever is chosen)."""
        self.forget_insert()  # an inserted text stops being the last generation
        self._last_mode, self._last_prefix = mode, prefix
        self._request += 1
        request = self._request
        if self._cancel is not None:
            self._cancel.set()
        cancel = threading.Event()
        self._cancel = cancel
        params = self.current_params()
        n = self.candidate_count
        seed = random.randrange(2**31)
        prompt = prompt_text(self.editor.text_before_cursor(prompt_chars(self.engine))) + prefix
        self._request_info[request] = {"mode": mode, "params": params}
        from writer.ui.screens.context import current_context

        context = current_context(self)
        self._prefix = (request, prefix)
        self.panel.continuing = prefix
        self.panel.start(request, mode, n)
        if not self._model_settled.is_set():
            self.panel.waiting("waiting for the model to load…")
        self._generate(request, prompt, params, n, seed, mode, cancel, context)

    def action_regenerate(self) -> None:
        """The last kind of request again, with a new seed."""
        self.action_generate(self._last_mode, self._last_prefix)

    def on_candidates_panel_continue_requested(
        self, message: CandidatesPanel.ContinueRequested
    ) -> None:
        """c in the panel: N new candidates continuing the highlighted one."""
        if not message.text.strip():
            self.notify("That candidate is empty; choose another or press ctrl+r.")
            return
        request, prefix = self._prefix
        base = prefix if request == message.panel.request else ""
        self.action_generate("continue", base + message.text)

    def cancel_generation(self) -> bool:
        """Stop the running request (the engine checks every token); True if one was running."""
        running = self.panel.running
        if self._cancel is not None:
            self._cancel.set()
        self.workers.cancel_group(self, "generate")
        self.panel.finish("cancelled" if running else "")
        return running

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _generate(
        self,
        request: int,
        prompt: str,
        params: Any,
        n: int,
        seed: int,
        mode: str,
        cancel: Any,
        context: Any = None,
    ) -> None:
        worker = get_current_worker()

        def stop() -> bool:
            return cancel.is_set() or worker.is_cancelled

        while not self._model_settled.wait(0.05):
            if stop():
                return
        engine = self.engine
        if engine is None:
            reason = self.model_error or "no model is loaded"
            self.post_message(GenerationFailed(request, f"no model to generate with: {reason}"))
            return
        self.post_message(CandidatesStarted(request, mode, n))
        events = None
        try:
            # The draft's story context, only when it has one (engines without it still work).
            extra = {"context": context} if context is not None and not context.empty else {}
            # Token probabilities for the view (p): one top-k per step, when the engine has them.
            if engine.supports_logprobs:
                extra["logprobs"] = DEFAULT_LOGPROBS
            events = engine.stream(prompt, params, n=n, seed=seed, mode=mode, cancel=stop, **extra)
            relay_stream(events, request, self.post_message)
        except Exception as exc:  # reported as a notification; the text is untouched
            self._log_exception(exc)
            self.post_message(GenerationFailed(request, error_line(exc)))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def on_candidates_started(self, message: CandidatesStarted) -> None:
        if message.request == self.panel.request:
            self.panel.waiting("")
            self.panel.start(message.request, message.mode, message.n)
            # start() resets texts: nothing has streamed for this request yet

    def on_candidate_deltas(self, message: CandidateDeltas) -> None:
        if message.request == self.panel.request:
            self.panel.add_deltas(message.deltas)

    def on_candidate_finished(self, message: CandidateFinished) -> None:
        if message.request == self.panel.request:
            candidate = message.candidate
            self.panel.finish_candidate(message.index, candidate.text, candidate.token_logprobs)

    def on_generation_finished(self, message: GenerationFinished) -> None:
        done = message.done
        info = self._request_info.pop(message.request, None)
        if message.request == self.panel.request:
            speed = done.stats.tokens_per_s
            if not done.cancelled:
                self.status.speed = speed
            window = getattr(self.engine, "context_size", None)
            if done.context is not None:
                self.writing.context_fill = f"ctx {done.context.total}/{done.context.window}"
            elif window:
                self.writing.context_fill = f"ctx {done.stats.prompt_tokens}/{window}"
            note = "cancelled" if done.cancelled else f"{speed:.1f} tok/s"
            self.panel.finish(note)
            for candidate in done.candidates:
                self.panel.finish_candidate(
                    candidate.index, candidate.text, candidate.token_logprobs
                )
        if info is not None and done.candidates:
            self.log_generation(message.request, info, done)

    def on_generation_failed(self, message: GenerationFailed) -> None:
        self._request_info.pop(message.request, None)
        if message.request == self.panel.request:
            self.panel.finish("failed")
        self.notify(f"Generation failed: {message.reason}", title="Generate", severity="error")

    def on_candidates_panel_chosen(self, message: CandidatesPanel.Chosen) -> None:
        """Insert the chosen candidate at the editor's cursor as one undo step."""
        if not message.text.strip():
            self.notify("That candidate is empty; choose another or press ctrl+r.")
            return
        if self.editor.read_only:
            self.notify("This draft is open read-only; nothing was inserted.", severity="warning")
            return
        if self.panel.running:
            self.cancel_generation()
        if message.mode == "ideas":
            self.editor.insert_idea(message.text)
        else:
            request, prefix = self._prefix
            prefix = prefix if request == message.panel.request else ""
            start = self.editor.cursor_location
            self.editor.insert_as_one_step(prefix + message.text)
            tokens = (
                self.panel.tokens[message.index] if message.index < len(self.panel.tokens) else ()
            )
            # The probabilities of inserted text (shift+f9) describe the candidate alone, so a
            # continued candidate (inserted after its prefix) is not offered there.
            self.remember_insert(start, message.text, () if prefix else tokens)
        self.mark_inserted(message.panel.request, message.index)
        self.panel.close()
        self.editor.focus()
