"""Blind comparison: a passage's end, two continuations in random hidden order, one key to judge.

Used by `writer compare` (inside `CompareApp`) and from the models dialog (`c`). Continuations
are generated in a thread worker, one passage ahead of the author; each passage's order is drawn
when it is shown and stored with the judgment (`a_first`), never shown until the summary.
Keys: 1 = the first is better, 2 = the second is better, t = tie, x = both bad, s = summary.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from writer.store.judgments import Comparison, ComparisonSummary, Judgment, JudgmentLog
from writer.ui.keys import key_for

DEFAULT_ITEMS = 20
DEFAULT_WINDOW = 128
DEFAULT_LENGTH = 48
# The end of the passage shown above the continuations: at most this many characters and lines.
PASSAGE_CHARS = 480
PASSAGE_LINES = 6


@dataclass(frozen=True)
class Side:
    """One contender: what the author typed (`spec`), and the model and preset it means."""

    spec: str
    model: str
    preset: str

    @classmethod
    def of(cls, model: str, preset: str) -> Side:
        """The side `model` with `preset`, named MODEL@PRESET."""
        return cls(f"{model}@{preset}", model, preset)


@dataclass
class ComparePlan:
    """Everything a comparison needs; `prepared` is filled by `prepare` (CLI: before the UI)."""

    a: Side
    b: Side
    texts: list[str]
    source: str
    window: int | None = None  # None: DEFAULT_WINDOW, or less to fit the model's context
    length: int = DEFAULT_LENGTH
    items: int = DEFAULT_ITEMS
    seed: int | None = None
    new: bool = False
    device: str | None = None
    holdout: float | None = None  # take passages only from the last fraction (finetune's)
    prepared: Prepared | None = None


@dataclass
class Prepared:
    comparison: Comparison
    pairs: list[Any]
    engines: dict[str, Any] = field(repr=False, default_factory=dict)
    resumed: bool = False


def fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return "sha256:" + digest.hexdigest()[:32]


def prepare(plan: ComparePlan, log: JudgmentLog) -> Prepared:
    """Load both models, cut the passages, and resume or start the session (may raise
    WriterError: unknown model, text too short)."""
    import secrets

    from writer.engine import load_engine
    from writer.training.corpus import encode_documents, split_holdout
    from writer.training.evaluate import check_pair_sizes, make_pairs

    check_pair_sizes(plan.window or 1, plan.length, plan.items, 1, samples_flag="--items")
    engines: dict[str, Any] = {}
    for side in (plan.a, plan.b):
        if side.model not in engines:
            engines[side.model] = load_engine(side.model, device=plan.device)
    first = engines[plan.a.model]
    context = min(engine.context_size for engine in engines.values())
    window = plan.window or max(1, min(DEFAULT_WINDOW, context - plan.length))
    check_pair_sizes(window, plan.length, plan.items, 1, context, "--items")
    ids = encode_documents(first.tokenizer, plan.texts)
    text_id = fingerprint(plan.texts)
    if plan.holdout is not None:
        ids = split_holdout(ids, plan.holdout)[1]
        text_id += f" holdout {plan.holdout:g}"
    pairs = make_pairs(first.tokenizer, ids, window, plan.length, plan.items)
    key = (plan.a.spec, plan.b.spec, text_id, window, plan.length)
    found = None if plan.new else log.find_unfinished(*key)
    if found is not None:
        return Prepared(found, pairs[: found.items], engines, resumed=True)
    seed = plan.seed if plan.seed is not None else secrets.randbelow(2**31)
    comparison = log.start(*key[:2], plan.source, *key[2:], seed=seed, items=len(pairs))
    return Prepared(comparison, pairs, engines)


def passage_end(text: str) -> str:
    """The end of a passage, short enough to leave the continuations most of the screen."""
    end = text[-PASSAGE_CHARS:]
    lines = end.split("\n")[-PASSAGE_LINES:]
    cut = "\n".join(lines)
    return ("…" + cut.lstrip()) if len(cut) < len(text) else cut


class ItemReady(Message):
    """A passage with both continuations, ready to judge (posted by the worker)."""

    def __init__(self, item: int, passage: str, text_a: str, text_b: str) -> None:
        super().__init__()
        self.item, self.passage, self.text_a, self.text_b = item, passage, text_a, text_b


class CompareFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SessionReady(Message):
    """Models loaded, passages cut, session started or resumed."""

    def __init__(self, prepared: Prepared) -> None:
        super().__init__()
        self.prepared = prepared


class CompareScreen(Screen[ComparisonSummary | None]):
    """Judge passages one by one; dismisses with the summary (None if nothing was set up)."""

    DEFAULT_CSS = """
    CompareScreen #passage-text { height: auto; border: round $secondary; padding: 0 1; }
    CompareScreen Horizontal { height: 1fr; }
    CompareScreen .choice { width: 1fr; border: round $primary; padding: 0 1; }
    CompareScreen #status { height: auto; padding: 0 1; }
    CompareScreen #summary { height: auto; padding: 0 1; border: round $success; display: none; }
    CompareScreen #summary.shown { display: block; }
    """
    BINDINGS = [
        Binding("1", "judge('first')", "1 is better"),
        Binding("2", "judge('second')", "2 is better"),
        Binding("t", "judge('tie')", "Tie"),
        Binding("x", "judge('both_bad')", "Both bad"),
        Binding("s", "summary", "Summary"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, plan: ComparePlan, log: JudgmentLog, rng: random.Random | None = None):
        super().__init__()
        self.plan = plan
        self.judgments = log
        # The order of each passage is drawn here; tests pass a seeded Random.
        self.rng = rng or random.Random()
        self.prepared: Prepared | None = None
        self.pending: list[ItemReady] = []
        self.current: ItemReady | None = None
        self.a_first = True
        self.judged = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="status", markup=False)
            yield Static("", id="passage-text", markup=False)
            with Horizontal():
                with VerticalScroll(classes="choice", id="first") as first:
                    first.border_title = "1"
                    yield Static("", id="first-text", markup=False)
                with VerticalScroll(classes="choice", id="second") as second:
                    second.border_title = "2"
                    yield Static("", id="second-text", markup=False)
            yield Static("", id="summary", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._status("loading the models and cutting passages…")
        self._run()

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def _run(self) -> None:
        from textual.worker import get_current_worker

        from writer.presets import get_preset
        from writer.training.evaluate import continuation_for

        worker = get_current_worker()
        try:
            prepared = self.plan.prepared or prepare(self.plan, self.judgments)
            self.post_message(SessionReady(prepared))
            comparison = prepared.comparison
            params = {s.spec: get_preset(s.preset) for s in (self.plan.a, self.plan.b)}
            for item, pair in enumerate(prepared.pairs):
                if item in comparison.judged:
                    continue
                if worker.is_cancelled:
                    return
                seed = comparison.seed + item  # the same seed for A and B: a paired comparison
                texts = [
                    continuation_for(prepared.engines[side.model], pair, params[side.spec], seed)
                    for side in (self.plan.a, self.plan.b)
                ]
                self.post_message(ItemReady(item, pair.prompt, texts[0], texts[1]))
        except Exception as exc:  # shown on screen; the judgments so far are stored
            self.post_message(CompareFailed(f"{type(exc).__name__}: {exc}"))

    def on_session_ready(self, message: SessionReady) -> None:
        self.prepared = message.prepared
        c = message.prepared.comparison
        self.judged = len(c.judged)
        if c.finished:
            self._show_summary(done=True)
        elif not self.current:
            how = "resuming" if message.prepared.resumed else "starting"
            self._status(f"{how} comparison {c.id}: generating the first passage…")

    def on_item_ready(self, message: ItemReady) -> None:
        self.pending.append(message)
        if self.current is None:
            self._next()

    def on_compare_failed(self, message: CompareFailed) -> None:
        self._status(f"Comparison stopped: {message.reason}")
        self.notify(message.reason, title="Compare", severity="error")

    def _next(self) -> None:
        if not self.pending:
            self.current = None
            if self.prepared is not None and self.judged >= self.prepared.comparison.items:
                self._show_summary(done=True)
            else:
                self._status("generating the next passage…")
            return
        self.current = self.pending.pop(0)
        self.a_first = self.rng.random() < 0.5
        first, second = (self.current.text_a, self.current.text_b)
        if not self.a_first:
            first, second = second, first
        passage = passage_end(self.current.passage)
        total = self.prepared.comparison.items if self.prepared else "?"
        self._status(
            f"passage {self.judged + 1} of {total}: which continuation is better? "
            "1 / 2, t = tie, x = both bad"
        )
        self.query_one("#passage-text", Static).update(passage)
        self.query_one("#first-text", Static).update(first)
        self.query_one("#second-text", Static).update(second)

    def action_judge(self, which: str) -> None:
        if self.current is None or self.prepared is None:
            self.notify("No passage to judge yet.")
            return
        if which == "first":
            choice = "a" if self.a_first else "b"
        elif which == "second":
            choice = "b" if self.a_first else "a"
        else:
            choice = which
        item = self.current
        try:
            self.judgments.record(
                Judgment(
                    self.prepared.comparison.id,
                    item.item,
                    self.a_first,
                    choice,
                    item.passage,
                    item.text_a,
                    item.text_b,
                )
            )
        except Exception as exc:
            self.notify(f"Judgment not saved: {exc}", severity="error")
            return
        self.judged += 1
        self._next()

    def summary(self) -> ComparisonSummary:
        return self.judgments.summary(self.plan.a.spec, self.plan.b.spec)

    def _show_summary(self, done: bool = False) -> None:
        panel = self.query_one("#summary", Static)
        lines = self.summary().lines()
        if done:
            lines.insert(
                0, f"All passages of this session are judged. {key_for(self, 'close')}: close"
            )
            self._status("done")
        panel.update("\n".join(lines))
        panel.add_class("shown")

    def action_summary(self) -> None:
        panel = self.query_one("#summary", Static)
        if panel.has_class("shown"):
            panel.remove_class("shown")
        else:
            self._show_summary()

    def action_close(self) -> None:
        self.workers.cancel_group(self, "compare")
        self.dismiss(self.summary() if self.prepared is not None else None)


class CompareApp(App[ComparisonSummary | None]):
    """`writer compare`: the comparison screen alone; exits with the summary."""

    TITLE = "writer compare"

    def __init__(self, plan: ComparePlan, log: JudgmentLog, rng: random.Random | None = None):
        super().__init__()
        self.plan, self.judgment_log, self.rng = plan, log, rng

    def on_mount(self) -> None:
        self.push_screen(CompareScreen(self.plan, self.judgment_log, self.rng), self.exit)
