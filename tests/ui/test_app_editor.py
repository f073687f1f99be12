"""Pilot tests of the editor an author expects: where they left off, document keys, find and
replace, a word goal, save as, and shaping candidates."""

from __future__ import annotations

from tests.ui.test_app_support import ScriptedEngine, loader_for, notices, run_app, wait_for
from writer.store import DraftStore
from writer.ui.app import WriterApp

LINES = "\n".join(f"Line {i} of the story, long enough to be a line." for i in range(200))


def make_app(file=None, **kwargs) -> WriterApp:
    return WriterApp(file, engine_loader=loader_for(ScriptedEngine()), **kwargs)


def seed_draft(text: str = LINES, **position) -> int:
    with DraftStore.open() as store:
        draft = store.create_draft("Novel", text)
        if position:
            store.set_position(draft.id, position["cursor"], position["scroll"])
        return draft.id


async def test_a_draft_reopens_with_cursor_and_scroll_where_the_author_left():
    seed_draft()
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == LINES)
        app.writing.editor.move_cursor((120, 7), center=True)
        await wait_for(pilot, lambda: app.writing.editor.scroll_offset.y > 100)
        where = app.writing.editor.position
        await pilot.press("ctrl+q")
    again = make_app()
    async with run_app(again) as pilot:
        await wait_for(pilot, lambda: again.writing.editor.position == where)
        assert again.writing.editor.cursor_location == (120, 7)


async def test_moving_the_cursor_without_typing_is_recorded_by_the_autosave_timer():
    draft_id = seed_draft(cursor=(0, 0), scroll=0)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == LINES)
        await pilot.press("down", "down", "right")
        with DraftStore.open() as store:
            await wait_for(pilot, lambda: store.get_draft(draft_id).cursor == (2, 1), 5.0)
        assert app.writing.status.save_state == "saved"


async def test_a_draft_never_reopened_and_a_new_file_open_at_the_end(tmp_path):
    seed_draft()  # no position recorded: where an author continues is the end
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == LINES)
        assert app.writing.editor.cursor_location == app.writing.editor.document.end
        await wait_for(pilot, lambda: app.writing.editor.scroll_offset.y > 100)
    story = tmp_path / "story.md"
    story.write_text("First line.\nSecond line, the last.", encoding="utf-8")
    app = make_app(story)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text.startswith("First"))
        assert app.writing.editor.cursor_location == (1, len("Second line, the last."))


async def test_a_position_beyond_a_text_changed_outside_is_clamped():
    seed_draft("short\ntext", cursor=(150, 40), scroll=140)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == "short\ntext")
        assert app.writing.editor.cursor_location == (1, 4)


async def test_ctrl_home_and_ctrl_end_go_to_the_start_and_end_of_the_story():
    seed_draft(cursor=(50, 3), scroll=40)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.cursor_location == (50, 3))
        await pilot.press("ctrl+end")
        assert app.writing.editor.cursor_location == app.writing.editor.document.end
        await pilot.press("ctrl+home")
        assert app.writing.editor.cursor_location == (0, 0)
        await wait_for(pilot, lambda: app.writing.editor.scroll_offset.y == 0)
        await pilot.press("ctrl+shift+end")
        assert app.writing.editor.selected_text == LINES


# -- find, replace, goal, save as (issue 10, item 4) ------------------------------------------
STORY = "The cat sat.\nA dog ran.\nThe Cat slept."


async def type_into(pilot, screen_type, text: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type))
    await pilot.press(*text)


async def test_find_and_find_next_select_matches_case_insensitively_and_wrap():
    from writer.ui.screens.find import FindScreen

    seed_draft(STORY, cursor=(0, 0), scroll=0)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await pilot.press("ctrl+f")
        await type_into(pilot, FindScreen, "cat")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.writing.editor.selected_text == "cat")
        assert app.writing.editor.selection.start == (0, 4)
        await pilot.press("f6")
        assert (
            app.writing.editor.selection.start == (2, 4)
            and app.writing.editor.selected_text == "Cat"
        )
        await pilot.press("f6")  # wraps to the first again
        assert app.writing.editor.selection.start == (0, 4)
        await pilot.press("shift+f6")  # backwards wraps to the last
        assert app.writing.editor.selection.start == (2, 4)
        await pilot.press("ctrl+f")
        await type_into(pilot, FindScreen, "\b\b\bmouse")
        app.screen.query_one("#query").value = "mouse"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("not in the story" in n for n in notices(app)))
        assert app.writing.editor.text == STORY


async def test_replace_next_and_replace_all_are_undoable_steps():
    from writer.ui.screens.find import FindScreen

    seed_draft(STORY, cursor=(0, 0), scroll=0)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        app.screen.query_one("#query").value = "cat"
        app.screen.query_one("#replacement").value = "fox"
        await pilot.press("enter")  # the first press finds; the selection is the match
        await wait_for(pilot, lambda: app.writing.editor.selected_text == "cat")
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        assert app.screen.query_one("#replacement").value == "fox"  # remembered
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.writing.editor.text.startswith("The fox sat."))
        assert app.writing.editor.selected_text == "Cat"  # the next match is selected
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, FindScreen))
        await pilot.click("#all")
        await wait_for(
            pilot,
            lambda: app.writing.editor.text == STORY.replace("cat", "fox").replace("Cat", "fox"),
        )
        await wait_for(pilot, lambda: any("Replaced 2" in n for n in notices(app)))
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)


async def test_word_goal_is_shown_as_progress_and_kept_per_draft():
    from writer.ui.screens.prompt import PromptScreen

    draft_id = seed_draft(STORY, cursor=(0, 0), scroll=0)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await pilot.press("f10")
        await type_into(pilot, PromptScreen, "1,000")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "9/1000 words" in str(app.writing.status.render()))
        await pilot.press("f10")
        await type_into(pilot, PromptScreen, "x")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("whole number" in n for n in notices(app)))
        assert app.writing.status.goal == 1000
        with DraftStore.open() as store:
            assert store.get_draft(draft_id).word_goal == 1000
    again = make_app()
    async with run_app(again) as pilot:
        await wait_for(pilot, lambda: again.writing.status.goal == 1000)
        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(again.screen, PromptScreen))
        again.screen.query_one("Input").value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: again.writing.status.goal is None)
        assert "9 words" in str(again.writing.status.render())


async def test_save_as_writes_the_text_asks_before_overwriting_and_refuses_the_store(tmp_path):
    from writer.ui.screens.confirm import ChoiceScreen
    from writer.ui.screens.prompt import PromptScreen

    seed_draft(STORY, cursor=(0, 0), scroll=0)
    app = make_app()
    target = tmp_path / "out.txt"
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await pilot.press("end", *" More")

        async def save_as(path: str) -> None:
            await pilot.press("f12")
            await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
            app.screen.query_one("Input").value = path
            await pilot.press("enter")

        await save_as(str(target))
        await wait_for(pilot, lambda: target.exists())
        assert target.read_text(encoding="utf-8") == app.writing.editor.text + "\n"
        target.write_text("keep me", encoding="utf-8")
        await save_as(str(target))
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: any("cancelled" in n for n in notices(app)))
        assert target.read_text(encoding="utf-8") == "keep me"
        await save_as(str(app.writing.drafts.store.path))
        await wait_for(pilot, lambda: any("Not saved" in n for n in notices(app)))


async def test_opening_the_candidates_panel_keeps_the_cursor_line_in_view():
    seed_draft(cursor=(120, 0), scroll=99)  # the line being written is the view's last
    app = make_app()
    async with run_app(app, size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.scroll_offset.y == 99)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)

        def cursor_in_view() -> bool:
            top = app.writing.editor.scroll_offset.y
            _, row = app.writing.editor.wrapped_document.location_to_offset(
                app.writing.editor.cursor_location
            )
            return top <= row < top + app.writing.editor.scrollable_content_region.height

        await wait_for(pilot, cursor_in_view)
        assert app.writing.editor.size.height < 20  # the panel took room


# -- shaping candidates (issue 10, item 5) -----------------------------------------------------
class SentenceEngine(ScriptedEngine):
    """Each candidate streams `text` word by word (candidate i prefixed with `i:`)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def stream(self, prompt, params, n=3, seed=None, mode="continue", cancel=None, **kw):
        from writer.engine.types import (
            Candidate,
            CandidateDone,
            GenerationDone,
            GenerationStats,
            TokenDelta,
        )

        self.calls.append({"prompt": prompt, "n": n, "mode": mode})
        texts = []
        for i in range(n):
            text = f" {i}:{self.text}"
            for piece in text.split(" ")[1:]:
                yield TokenDelta(i, " " + piece)
            texts.append(text)
        cands = [Candidate(t, 5, -1.0, i, i, "length") for i, t in enumerate(texts)]
        for cand in cands:
            yield CandidateDone(cand.index, cand)
        yield GenerationDone(cands, GenerationStats(3, 0, 5 * n, 0.01, 0.01), False, seed or 0)


async def test_s_inserts_only_the_first_sentence_of_the_highlighted_candidate():
    engine = SentenceEngine("She ran. Then “Stop!” he cried. And more")
    seed_draft("Once.", cursor=(0, 5), scroll=0)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == "Once.")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("tab", "down", "s")
        await wait_for(pilot, lambda: app.writing.editor.text == "Once. 1:She ran.")
        assert not app.writing.panel.is_open
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: app.writing.editor.text == "Once.")


async def test_c_continues_the_highlighted_candidate_and_inserts_both():
    engine = ScriptedEngine(tokens=2)
    seed_draft("Once.", cursor=(0, 5), scroll=0)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == "Once.")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("tab", "down", "c")
        await wait_for(pilot, lambda: len(engine.calls) == 2 and not app.writing.panel.running)
        assert engine.calls[1]["prompt"] == "Once. c1t0 c1t1"
        assert app.writing.panel.border_title.startswith("Continuing “c1t0 c1t1”")
        assert app.writing.editor.text == "Once."  # nothing inserted yet
        await pilot.press("c")  # and again: the continuation of the continuation
        await wait_for(pilot, lambda: len(engine.calls) == 3 and not app.writing.panel.running)
        assert engine.calls[2]["prompt"] == "Once. c1t0 c1t1 c0t0 c0t1"
        await pilot.press("3")
        await wait_for(
            pilot, lambda: app.writing.editor.text == "Once. c1t0 c1t1 c0t0 c0t1 c2t0 c2t1"
        )
        await pilot.press("ctrl+g")  # a fresh request continues the story, not a candidate
        await wait_for(pilot, lambda: len(engine.calls) == 4)
        assert engine.calls[3]["prompt"] == app.writing.editor.text
        await wait_for(pilot, lambda: not app.writing.panel.running)
        assert not app.writing.panel.border_title.startswith("Continuing")


# -- a long manuscript (issue 10, item 1) ------------------------------------------------------
async def test_word_count_follows_typing_pasting_and_undo():
    seed_draft("One two\nthree", cursor=(1, 5), scroll=0)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.status.words == 3)
        await pilot.press(*" four", "enter", *"five six")
        await wait_for(pilot, lambda: app.writing.status.words == 6)
        app.writing.editor.insert("\nseven\n\n eight  nine\n")
        await wait_for(pilot, lambda: app.writing.status.words == 9)
        await pilot.press("ctrl+z")
        await wait_for(
            pilot, lambda: app.writing.status.words == len(app.writing.editor.text.split())
        )
        app.writing.editor.replace("", (0, 0), app.writing.editor.document.end)
        await wait_for(pilot, lambda: app.writing.status.words == 0)


async def test_a_request_reads_only_the_tail_of_a_long_manuscript():
    text = "\n".join(f"Paragraph {i} " + "word " * 40 for i in range(3000))  # ~630 KB
    engine = ScriptedEngine()
    seed_draft(text)  # opens at the end
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == text)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls)
        prompt = engine.calls[0]["prompt"]
        assert text.endswith(prompt) and 32_768 <= len(prompt) < 40_000
        assert prompt.startswith("Paragraph ")  # cut at a line start, stable while typing
        app.writing.editor.move_cursor((1, 0))  # near the start: the text before the cursor, whole
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: len(engine.calls) == 2)
        assert engine.calls[1]["prompt"] == text[: text.index("\n") + 1]


# -- f2 and the models screen (issue 10, item 7) -----------------------------------------------
def test_a_fine_tunes_manifest_reads_as_fields():
    from writer.ui.screens.models import describe_manifest

    text = describe_manifest(
        {
            "name": "my-style",
            "base": "gpt2",
            "method": "lora",
            "data_fingerprint": "0123456789abcdef0123",
            "files": [f"ch{i}.txt" for i in range(7)],
            "tokens": 120345,
            "train_tokens": 108000,
            "holdout_tokens": 12345,
            "steps": 150,
            "tokens_seen": 1228800,
            "block_size": 512,
            "batch_size": 8,
            "micro_batch_size": 2,
            "lr": 0.001,
            "seed": 0,
            "perplexity_before": 45.23,
            "perplexity_after": 31.8,
            "train_seconds": 483.0,
            "date": "2026-11-26T13:00:00+00:00",
            "lora_r": 8,
            "lora_alpha": 16,
            "lora_targets": ["c_attn", "c_proj"],
            "future_key": {"a": 1},
        }
    )
    assert text.splitlines() == [
        "Base model: gpt2",
        "Method: LoRA (rank 8; alpha 16; adapts c_attn, c_proj)",
        "Trained: 2026-11-26 13:00:00 UTC, in 8 min 3 s",
        "Training steps: 150 (1,228,800 tokens seen)",
        "Text: 7 files, 120,345 tokens (108,000 for training, 12,345 held out)",
        "Files: ch0.txt, ch1.txt, ch2.txt, ch3.txt, ch4.txt (+2 more)",
        "Held-out perplexity: 45.2 before → 31.8 after (30% lower)",
        "Settings: block 512 tokens, batch 8, micro-batch 2, learning rate 0.001, seed 0",
        "Data fingerprint: 0123456789abcdef",
        'future_key: {"a": 1}',
    ]
    assert describe_manifest({"steps": "odd", "perplexity_before": "x"}).splitlines() == [
        "Training steps: odd",
        "perplexity_before: x",
    ]


async def test_f2_edits_the_stop_rule_and_ngram_blocking():
    from writer.ui.screens.parameters import ParametersScreen

    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(100, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ParametersScreen))
        screen = app.screen
        assert screen.query_one("#stop").value == str(app.writing.current_params().stop)
        screen.query_one("#stop").value = "often"
        screen.query_one("#no_repeat_ngram_size").value = "99"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "to 20" in str(screen.query_one("#no_repeat_ngram_size-error").render())
        )
        assert app.screen is screen  # refused: still open
        screen.query_one("#no_repeat_ngram_size").value = "3"
        screen.query_one("#stop").value = "THE END|***"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not screen)
        params = app.writing.current_params()
        assert params.stop == ("THE END", "***") and params.no_repeat_ngram_size == 3
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ParametersScreen))
        assert app.screen.query_one("#stop").value == "THE END|***"
        app.screen.query_one("#stop").value = "sentence"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.writing.current_params().stop == "sentence")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: engine.calls)
        assert engine.calls[0]["params"].stop == "sentence"
        assert engine.calls[0]["params"].no_repeat_ngram_size == 3


async def test_e_edits_a_candidate_before_inserting_it():
    from writer.ui.screens.edit_candidate import EditCandidateScreen

    engine = ScriptedEngine(tokens=2)
    seed_draft("Once.", cursor=(0, 5), scroll=0)
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == "Once.")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running)
        await pilot.press("tab", "down", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditCandidateScreen))
        assert app.screen.query_one("#candidate-text").text == " c1t0 c1t1"
        await pilot.press("escape")  # cancelled: the story is untouched, the panel stays
        await wait_for(pilot, lambda: not isinstance(app.screen, EditCandidateScreen))
        assert app.writing.editor.text == "Once." and app.writing.panel.is_open
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditCandidateScreen))
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"mine")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.writing.editor.text == "Once. c1t0 mine")
        assert not app.writing.panel.is_open
