"""`writer stats`: requests, candidates shown, insert rate and kept words from real use."""

from __future__ import annotations

import json

from tests.conftest import run_writer
from tests.ui.test_app_support import ScriptedEngine, loader_for, wait_for
from writer.presets import get_preset
from writer.store import DraftStore
from writer.store.acceptance import kept_words, usage_stats
from writer.ui.app import WriterApp


def test_kept_words_counts_runs_not_stray_common_words() -> None:
    inserted = "the old man walked into the sea at dawn"
    assert kept_words(inserted, "Intro. The old man walked into the sea at dawn. End.") == 9
    assert kept_words(inserted, "Intro. The old man walked away. End.") == 4
    # The words exist, scattered: nothing of the insertion survived as written.
    assert kept_words(inserted, "the sea. a man. the dawn. old at walked into") == 0
    assert kept_words("Yes.", "He said yes.") == 1  # shorter than a run: matched whole
    assert kept_words("", "anything") == 0


async def test_scripted_session_insert_then_edit_away_half(isolated_user_dirs) -> None:
    engine = ScriptedEngine(tokens=10)  # candidates of 10 words: " c0t0 c0t1 ... c0t9"
    app = WriterApp(engine_loader=loader_for(engine))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.press(*"Fox")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("tab", "1")
        await wait_for(pilot, lambda: "c0t9" in app.writing.editor.text)
        await pilot.press("ctrl+g")  # a second request, nothing inserted
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("escape")
        # Edit away half of the inserted words.
        app.writing.editor.text = "Fox c0t0 c0t1 c0t2 c0t3 c0t4 and more of my own words"
        await pilot.press("ctrl+s")
        draft_id = app.writing.drafts.draft.id
        await pilot.press("ctrl+q")
    result = run_writer("stats", "--json", env=isolated_user_dirs)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert row["model"] == "gpt2" and row["preset"] == "balanced"
    assert row["requests"] == 2 and row["candidates_shown"] == 6
    assert row["inserted"] == 1 and row["insert_rate"] == 0.5
    assert row["inserted_words"] == 10 and row["kept_words"] == 5 and row["kept_rate"] == 0.5
    table = run_writer("stats", "--draft", str(draft_id), env=isolated_user_dirs)
    assert table.returncode == 0 and "5 (50%)" in table.stdout and "balanced" in table.stdout


def test_presets_are_recognised_and_overrides_are_custom(tmp_path) -> None:
    with DraftStore.open(tmp_path / "w.db") as store:
        draft = store.create_draft("t")
        cands = [{"text": " one two three", "tokens": 3, "logprob": -1.0, "seed": 1}]
        store.generations.log(draft.id, "continue", get_preset("wild").to_dict(), 1, "m", cands)
        custom = get_preset("wild").replace(temperature=0.42).to_dict()
        gid = store.generations.log(draft.id, "continue", custom, 1, "m", cands)
        store.generations.mark_inserted(gid, 0, text="one two three")
        rows = {r.preset: r for r in usage_stats(store)}
    assert set(rows) == {"wild", "custom"}
    assert rows["custom"].kept_words == 3 and rows["wild"].inserted == 0


def test_unknown_draft_is_one_line(isolated_user_dirs) -> None:
    result = run_writer("stats", "--draft", "99", env=isolated_user_dirs)
    assert result.returncode == 1
    assert result.stderr.strip() == "writer: error: no draft with ID 99; see `writer drafts list`"
    empty = run_writer("stats", env=isolated_user_dirs)
    assert empty.returncode == 0 and "no generation requests" in empty.stdout
