"""Learning the author's taste from the app: the offer, the key, the worker and its progress.

When the open draft's picks reach `learn_after` pairs (learn_hint.py), the status bar offers the
learn key (`WritingScreen`'s binding for the "learn" action; the key shown is the binding's).
The key opens the learn dialog (screens/learn.py); confirmed, a `LearnPanel` above the status bar
runs `writer.training.learn.learn` on a thread worker (the same training `writer learn --draft ID
--base MODEL` runs, called directly) and shows its progress, fed by coalescing messages. The key
again stops it after the current step, keeping a checkpoint (as Ctrl+C does for the command).

Done, the draft switches to the new model through the screen's `switch_model` (the path f5's
models dialog takes), so f5 lists the previous model and switches back. Stopped or failed: one
notification, and the model stays what it was. Never automatic, never silent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Label, ProgressBar

from writer.errors import WriterError, error_line, log_exception
from writer.ui.screens.learn import LearnDialog, LearnRequest
from writer.ui.writing.learn_hint import LearnHint

ACTION = "learn"
"""The writing screen's action for the learn key (its binding names the key shown)."""


@dataclass
class LearnJob:
    """One learn run: the pairs (read on the UI thread) and what to train."""

    name: str
    base: str
    pairs: list[Any]
    counts: Any
    steps: int | None = None
    device: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class LearnProgressed(Message):
    """One optimizer step done. A newer one replaces one not yet handled (coalesced)."""

    def __init__(self, step: int, total: int, loss: float, accuracy: float) -> None:
        super().__init__()
        self.step, self.total, self.loss, self.accuracy = step, total, loss, accuracy

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LearnProgressed)


class LearnStatus(Message):
    """What the run is doing before and after the steps (loading, measuring)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LearnStatus)


class LearnEnded(Message):
    """The run ended: "done" (`result`: the LearnResult), "stopped" or "failed" (`text`)."""

    def __init__(
        self, outcome: Literal["done", "stopped", "failed"], result: Any = None, text: str = ""
    ) -> None:
        super().__init__()
        self.outcome, self.result, self.text = outcome, result, text


def quiet_training() -> None:
    """Keep the Trainer's, TRL's and datasets' notices and bars off the app's screen."""
    import logging

    for name in ("trl", "transformers", "accelerate", "datasets", "peft"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:  # no datasets: learn() says TRL is missing next
        pass


def train(job: LearnJob, post: Callable[[Message], None]) -> None:
    """Run `job` on this (worker) thread, posting progress and, last, a LearnEnded."""
    try:
        quiet_training()
        from writer.training.learn import (
            LearnInterrupted,
            LearnOptions,
            has_checkpoint,
            learn,
            resumable_with,
        )

        try:
            resume = resumable_with(job.name, job.pairs)
            result = learn(
                job.pairs,
                # A run continued keeps its own step count (the dialog says so).
                LearnOptions(
                    name=job.name,
                    base=job.base,
                    steps=None if resume else job.steps,
                    device=job.device,
                ),
                counts=job.counts,
                resume=resume,
                # An interrupted run of this name on other picks starts over (the dialog said
                # so); the dialog refused names of existing models, so no model is replaced.
                overwrite=not resume and has_checkpoint(job.name),
                on_status=lambda text: post(LearnStatus(text)),
                on_progress=lambda p: post(
                    LearnProgressed(p.step, p.total_steps, p.loss, p.accuracy)
                ),
                should_stop=job.stop.is_set,
                # One core stays free for the UI thread (typing) and the generation worker,
                # which sets its own thread count per request.
                spare_cores=1,
            )
        except LearnInterrupted as stop:
            post(LearnEnded("stopped", text=f"{stop.step}/{stop.total_steps}"))
            return
    except WriterError as exc:
        post(LearnEnded("failed", text=str(exc)))
        return
    except Exception as exc:  # any failure is one line; the model stays as it was
        log_exception(exc)
        post(LearnEnded("failed", text=error_line(exc)))
        return
    post(LearnEnded("done", result=result))


class LearnPanel(Horizontal):
    """One line above the status bar while learning: what, a bar, the step, loss and accuracy.

    It runs the job on its own worker (started on mount) and hands the LearnEnded to `ended`."""

    DEFAULT_CSS = """
    LearnPanel { height: 1; background: $panel; padding: 0 1; }
    LearnPanel Label { width: auto; }
    LearnPanel #learn-what { color: $text; margin-right: 1; }
    LearnPanel ProgressBar { width: auto; }
    LearnPanel Bar { width: 20; }
    LearnPanel #learn-detail { color: $text-muted; margin-left: 1; }
    """

    def __init__(self, job: LearnJob, key: str, ended: Callable[[LearnEnded], None]) -> None:
        super().__init__(id="learn-progress")
        self.job = job
        self.key = key
        self.ended = ended

    def compose(self) -> ComposeResult:
        yield Label(f"learning {self.job.name}", id="learn-what")
        yield ProgressBar(total=None, show_percentage=False, show_eta=False)
        yield Label(f"{self.key}: stop · loading {self.job.base}…", id="learn-detail")

    def on_mount(self) -> None:
        self.run_learning()

    @work(thread=True, exclusive=True, exit_on_error=False, group="learn")
    def run_learning(self) -> None:
        train(self.job, self.post_message)

    def _detail(self, text: str) -> None:
        self.query_one("#learn-detail", Label).update(text)

    def on_learn_status(self, message: LearnStatus) -> None:
        text = message.text if len(message.text) <= 60 else message.text[:59] + "…"
        self._detail(f"{self.key}: stop · {text}")

    def on_learn_progressed(self, message: LearnProgressed) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.step)
        stopping = " (stopping…)" if self.job.stop.is_set() else ""
        self._detail(
            f"step {message.step}/{message.total}{stopping} · {self.key}: stop · "
            f"loss {message.loss:.3f} · acc {message.accuracy:.0%}"
        )

    def on_learn_ended(self, message: LearnEnded) -> None:
        self.ended(message)


def learning_base(model: str) -> str:
    """The model to learn from when the draft uses `model`: itself, or, for a LoRA fine-tune
    (an adapter cannot take a second adapter), its base: the run learns from all of the
    draft's picks again, so the earlier ones are not lost."""
    from writer.engine.models import resolve_model

    try:
        source = resolve_model(model)
    except WriterError:
        return model  # learn() says what is wrong with it, in one line
    base = source.manifest.get("base") if source.kind == "finetuned" else None
    if source.manifest.get("method") == "lora" and isinstance(base, str) and base:
        return base
    return model


class Learning:
    """The writing screen's learning: the offer, the dialog, the run and its outcome.

    Handed the screen (it reads the app's model slot and the open draft, sets the status bar's
    `learn` field and calls `switch_model`)."""

    def __init__(self, screen: Any) -> None:
        self.screen = screen
        self.panel: LearnPanel | None = None
        self.offered_pairs = 0

    @property
    def running(self) -> bool:
        return self.panel is not None

    def key(self) -> str:
        """The learn key as shown to the author, from the screen's binding for it."""
        app = self.screen.app
        for binding in type(self.screen).BINDINGS:
            if getattr(binding, "action", None) == ACTION:
                return app.get_key_display(binding)
        return ""

    def hint(self) -> LearnHint:
        """The draft's learn hint: it makes the offer once its threshold is reached."""
        app = self.screen.app
        return LearnHint(
            app.config.learn_after,
            lambda text: app.notify(text, title="Learn", timeout=20),
            offer=self.offer,
            key=self.key,
        )

    def offer(self, pairs: int) -> None:
        """Show the offer in the status bar (until a run succeeds)."""
        self.offered_pairs = pairs
        if not self.running:
            self.screen.status.learn = f"learn from your picks: {self.key()}"

    def pressed(self) -> None:
        """The learn key: stop a run, or ask what to learn and start one."""
        if self.panel is not None:
            self.stop()
            return
        screen, app = self.screen, self.screen.app
        drafts = screen.drafts
        if drafts.store is None or drafts.draft is None:
            app.notify("Nothing to learn from: the drafts library is not available.")
            return
        current = app.model.name
        if not current:
            app.notify("Nothing to learn with: no model is set (f5 picks one).")
            return
        base = learning_base(current)
        from writer.training.pairs import PairCounts, pairs_from_log

        counts = PairCounts()
        try:
            pairs = pairs_from_log(drafts.store, [drafts.draft.id], counts)
        except WriterError as exc:
            app.notify(f"Cannot read this draft's picks: {exc}", severity="error")
            return
        if len(pairs) < 2:
            app.notify(
                f"{len(pairs)} pair(s) to learn from, at least 2 are needed: insert candidates "
                "first (each insertion gives a pair per candidate passed over)."
            )
            return
        key = self.key()

        def confirmed(request: LearnRequest | None) -> None:
            if request is not None:
                self.start(
                    LearnJob(request.name, base, pairs, counts, request.steps, app.model.device)
                )

        app.push_screen(LearnDialog(base, len(pairs), key, current=current), confirmed)

    def start(self, job: LearnJob) -> None:
        """Run `job` in a LearnPanel above the status bar."""
        screen = self.screen
        self.panel = LearnPanel(job, self.key(), self.ended)
        screen.status.learn = ""
        screen.mount(self.panel, before=screen.status)
        screen.app.notify(
            f"Learning {job.name} from {len(job.pairs)} pair(s) in the background; "
            f"{self.key()} stops it."
        )

    def stop(self) -> None:
        """Ask the run to stop after the current step (a checkpoint is kept)."""
        if self.panel is None or self.panel.job.stop.is_set():
            return
        self.panel.job.stop.set()
        self.screen.app.notify("Stopping after this step; a checkpoint is kept.")

    def shutdown(self) -> None:
        """The app is going away: ask a run to stop (its checkpoint is saved if time allows)."""
        if self.panel is not None:
            self.panel.job.stop.set()

    def ended(self, message: LearnEnded) -> None:
        """On the UI thread: say how it went; switch to the new model when it was learned."""
        panel, self.panel = self.panel, None
        if panel is not None:
            panel.remove()
        screen, app = self.screen, self.screen.app
        job = panel.job if panel is not None else None
        key = self.key()
        if message.outcome == "done":
            result = message.result
            report = result.report
            before, after = report["before"], report["after"]
            previous = app.model.name
            app.notify(
                f"Learned {result.name}: preference accuracy {before['accuracy']:.0%} → "
                f"{after['accuracy']:.0%} on {after['pairs']} held-out pair(s). Now writing "
                f"with it; f5 switches back to {previous}.",
                title="Learn",
                timeout=20,
            )
            screen.switch_model(result.name)
            return
        if self.offered_pairs:
            screen.status.learn = f"learn from your picks: {key}"
        if message.outcome == "stopped":
            name = job.name if job is not None else "the model"
            app.notify(
                f"Learning stopped at step {message.text}; the model is unchanged. {key} with "
                f"the name {name} continues it (same picks).",
                title="Learn",
                timeout=15,
            )
        else:
            app.notify(
                f"Learning failed: {message.text}. The model is unchanged.",
                title="Learn",
                severity="error",
                timeout=15,
            )
