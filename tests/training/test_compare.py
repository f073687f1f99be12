"""`writer compare`: the blind A/B flow via Pilot, the stored judgments, the summary, errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.conftest import CORPUS, call_writer, run_writer
from tests.ui.test_app_support import wait_for
from writer.store import DraftStore
from writer.store.judgments import ComparisonSummary, Judgment


def _plan(tiny_model_dir: Path, **kw):
    from writer.ui.screens.compare import ComparePlan, Side

    model = str(tiny_model_dir)
    return ComparePlan(
        Side("greedy", model, "greedy"),
        Side("wild", model, "wild"),
        [CORPUS * 3],
        source="test",
        window=24,
        length=8,
        items=kw.pop("items", 4),
        seed=kw.pop("seed", 5),
        **kw,
    )


def _shown(screen) -> tuple[str, str, str]:
    from textual.widgets import Static

    return tuple(
        str(screen.query_one(f"#{name}", Static).content)
        for name in ("first-text", "second-text", "status")
    )  # type: ignore[return-value]


async def _judge(app, pilot, keys: list[str]) -> list[tuple[int, bool, str, str]]:
    """Press each key on a ready passage; return (item, a_first, shown first, key)."""
    screen = app.screen
    seen = []
    for key in keys:
        await wait_for(pilot, lambda: screen.current is not None, 30)
        item, a_first = screen.current.item, screen.a_first
        first, second, status = _shown(screen)
        # Blind: the panels show only the texts, the status names no contender.
        expected = (screen.current.text_a, screen.current.text_b)
        assert (first, second) == (expected if a_first else expected[::-1])
        for label in ("greedy", "wild", str(app.plan.a.model)):
            assert label not in status
        seen.append((item, a_first, first, key))
        await pilot.press(key)
        await wait_for(
            pilot, lambda item=item: screen.current is None or screen.current.item != item
        )
    return seen


async def test_blind_flow_records_order_and_choices(tiny_model_dir: Path, tmp_path: Path) -> None:
    from writer.ui.screens.compare import CompareApp

    store = DraftStore.open(tmp_path / "w.db")
    log = store.judgments
    app = CompareApp(_plan(tiny_model_dir), log, rng=random.Random(2))
    async with app.run_test(size=(120, 40)) as pilot:
        seen = await _judge(app, pilot, ["1", "2", "t", "x"])
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#summary").has_class("shown"))
    orders = [a_first for _item, a_first, _first, _key in seen]
    assert True in orders and False in orders  # the order is drawn per passage
    comparison_id = log.find_unfinished("greedy", "wild", _fingerprint(), 24, 8)
    assert comparison_id is None  # finished: nothing to resume
    rows = log.judgments(1)
    assert [r.item for r in rows] == [0, 1, 2, 3]
    for row, (item, a_first, first, key) in zip(rows, seen, strict=True):
        assert row.item == item and row.a_first == a_first  # the order shown is recorded
        assert (row.text_a if a_first else row.text_b) == first
        if key == "1":
            assert row.choice == ("a" if a_first else "b")
        elif key == "2":
            assert row.choice == ("b" if a_first else "a")
        else:
            assert row.choice == {"t": "tie", "x": "both_bad"}[key]
    summary = log.summary("greedy", "wild")
    assert summary.judgments == 4 and summary.ties == 1 and summary.both_bad == 1
    assert summary.decisive == 2
    store.close()


def _fingerprint() -> str:
    from writer.ui.screens.compare import fingerprint

    return fingerprint([CORPUS * 3])


async def test_session_resumes_at_the_first_unjudged_passage(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from writer.ui.screens.compare import CompareApp

    store = DraftStore.open(tmp_path / "w.db")
    log = store.judgments
    app = CompareApp(_plan(tiny_model_dir), log, rng=random.Random(0))
    async with app.run_test() as pilot:
        first_texts = await _judge(app, pilot, ["1", "1"])
        await pilot.press("escape")
    assert [s[0] for s in first_texts] == [0, 1]
    again = CompareApp(_plan(tiny_model_dir, seed=99), log, rng=random.Random(0))
    async with again.run_test() as pilot:
        screen = again.screen
        await wait_for(pilot, lambda: screen.current is not None, 30)
        assert screen.current.item == 2  # resumed, not restarted
        assert screen.prepared.resumed and screen.prepared.comparison.seed == 5
        await pilot.press("escape")
    store.close()


def test_summary_decision_needs_the_interval_to_exclude_half() -> None:
    assert ComparisonSummary("a", "b", 2, 8, 0, 0).decision.startswith("no clear preference")
    strong = ComparisonSummary("a", "b", 2, 18, 3, 1)
    assert strong.decision == "B is preferred"
    assert strong.win_rate == pytest.approx(0.1)
    low, high = strong.interval
    assert high < 0.5
    assert ComparisonSummary("a", "b", 18, 2, 0, 0).decision == "A is preferred"
    assert "no judgment picked" in ComparisonSummary("a", "b", 0, 0, 2, 0).decision
    text = "\n".join(strong.lines())
    assert "24 judgment(s)" in text and "95% Wilson interval" in text


def test_cli_summary_and_bad_inputs(tiny_model_dir: Path, tmp_path: Path, isolated_user_dirs):
    model = str(tiny_model_dir)
    none_yet = run_writer(
        "compare", "--a", "greedy", "--b", "wild", "--model", model, "--summary",
        env=isolated_user_dirs,
    )  # fmt: skip
    assert none_yet.returncode == 1
    assert none_yet.stderr.startswith(f"writer: error: no judgments of {model}@greedy against")
    assert len(none_yet.stderr.strip().splitlines()) == 1

    # Judgments stored earlier (as the screen stores them) are summarised.
    with DraftStore.open() as store:
        log = store.judgments
        c = log.start(f"{model}@greedy", f"{model}@wild", "t", "f", 24, 8, seed=0, items=3)
        for item, choice in enumerate(["b", "b", "tie"]):
            log.record(Judgment(c.id, item, item % 2 == 0, choice, "p", "ta", "tb"))
    done = run_writer(  # the same contenders, named differently
        "compare", "--a", f"{model}@greedy", "--b", "wild", "--model", model, "--summary",
        env=isolated_user_dirs,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 judgment(s)" in done.stdout and "win rate of A over B: 0%" in done.stdout

    story = tmp_path / "s.txt"
    story.write_text(CORPUS[:150], encoding="utf-8")
    for args, message in [
        (["--a", "greedy", "--b", "nosuchpreset@x"], "unknown preset 'x'"),
        (["--a", "greedy", "--b", "no-such-model"], "no-such-model"),
        (["--a", "greedy", "--b", "wild", "--window", "100", "--length", "20"], "too short"),
        (["--a", "greedy", "--b", "greedy"], "are the same"),
        (
            ["--a", "greedy", "--b", "wild", "--items", "0"],
            "--items: must be a whole number from 1 to",
        ),
        (["--a", "greedy", "--b", "wild", "--preset", "nosuch"], "unknown preset 'nosuch'"),
    ]:
        # In this process: `none_yet` above is compare's one-line error end to end.
        result = call_writer("compare", str(story), "--model", model, *args, env=isolated_user_dirs)
        errors = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(errors) == 1, result.stderr
        assert errors[0].startswith("writer: error:")
        assert message in errors[0]
        assert "Traceback" not in result.stderr


def test_holdout_takes_passages_from_the_held_out_part_only(tiny_model_dir: Path, tmp_path):
    from writer.training.corpus import encode_documents, split_holdout
    from writer.ui.screens.compare import prepare

    with DraftStore.open(tmp_path / "w.db") as store:
        log = store.judgments
        plan = _plan(tiny_model_dir, holdout=0.3, items=50)
        prepared = prepare(plan, log)
        tok = prepared.engines[str(tiny_model_dir)].tokenizer
        held = split_holdout(encode_documents(tok, plan.texts), 0.3)[1]
        whole = prepare(_plan(tiny_model_dir, items=50), log)
    assert 0 < len(prepared.pairs) < len(whole.pairs)
    for pair in prepared.pairs:
        n = len(pair.prompt_ids)
        starts = [i for i in range(len(held) - n + 1) if tuple(held[i : i + n]) == pair.prompt_ids]
        assert starts, "a passage from outside the held-out part"
    assert prepared.comparison.id != whole.comparison.id  # a different text: its own session


async def test_models_dialog_shows_use_and_opens_a_blind_comparison(
    tiny_engine, tiny_model_dir: Path
) -> None:
    import json
    import shutil

    from textual.widgets import OptionList, Static

    from tests.ui.test_app_support import loader_for
    from writer.paths import models_dir
    from writer.ui.app import WriterApp
    from writer.ui.screens.compare import CompareScreen
    from writer.ui.screens.models import ModelsScreen

    # A "full" fine-tune is a model folder with a manifest: the tiny model serves as one.
    tuned = models_dir() / "tinytuned"
    shutil.copytree(tiny_model_dir, tuned)
    (tuned / "manifest.json").write_text(json.dumps({"method": "full", "base": "x"}))
    app = WriterApp(model=str(tiny_model_dir), engine_loader=loader_for(tiny_engine))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        app.writing.editor.text = CORPUS * 3
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen) and app.screen.models)
        screen = app.screen
        names = [m.name for m in screen.models]
        screen.query_one(OptionList).highlighted = names.index("tinytuned")
        await pilot.pause()
        panel = str(screen.query_one("#manifest", Static).content)
        assert "your use: no requests yet" in panel
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        await wait_for(pilot, lambda: compare.current is not None, 30)
        assert compare.plan.b.model == "tinytuned" and compare.plan.a.model == str(tiny_model_dir)
        await pilot.press("1")
        await wait_for(pilot, lambda: compare.judged == 1)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
    with DraftStore.open() as store:
        summary = store.judgments.summary(f"{tiny_model_dir}@balanced", "tinytuned@balanced")
    assert summary.judgments == 1 and summary.decisive == 1


def test_the_passage_shown_is_its_end() -> None:
    from writer.ui.screens.compare import passage_end

    text = "\n".join(f"line {i} " + "word " * 12 for i in range(40)) + "the last words"
    shown = passage_end(text)
    assert shown.startswith("…") and shown.endswith("the last words")
    assert len(shown.splitlines()) <= 6 and len(shown) <= 481
    assert passage_end("short") == "short"
