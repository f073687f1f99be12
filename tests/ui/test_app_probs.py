"""Pilot tests of issue 12's flows: the probabilities view, swap-and-continue (from a candidate
and from the text just inserted), and the next token at the cursor; over every engine."""

from __future__ import annotations

import pytest

from tests.ui.test_app import ENGINES, type_text
from tests.ui.test_app_support import loader_for, message_log, notified, run_app, wait_for
from writer.ui.app import WriterApp
from writer.ui.messages import GenerationFinished
from writer.ui.screens.tokens import NextTokenScreen, TokenProbsScreen, legend

PROMPT = "Once upon a time"


@pytest.fixture(params=sorted(ENGINES))
def engine(request):
    """Each engine writer can drive, in turn (as in test_app.py)."""
    return ENGINES[request.param](request)


async def _generate(pilot, app) -> None:
    await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
    app.writing.overrides = {"max_new_tokens": 6, "stop": "none"}
    await type_text(pilot, PROMPT)
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: app.writing.panel.is_open and not app.writing.panel.running, 30)


def _requests(app) -> list[GenerationFinished]:
    return message_log(app).of(GenerationFinished)


async def test_probabilities_view_shades_tokens_and_lists_alternatives(engine):
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await _generate(pilot, app)
        tokens = app.writing.panel.tokens[0]
        assert tokens and "".join(t.text for t in tokens) == app.writing.panel.texts[0]
        await pilot.press("tab", "p")
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        view = app.screen
        assert view.tokens == list(tokens) and view.position == 0
        options = view.query_one("#alternatives")
        assert options.option_count == 10
        first = str(options.get_option_at_index(0).prompt)
        assert "%" in first
        assert "legend" in {w.id for w in view.query("Static")}
        assert "model probability" in legend().plain
        await pilot.press("right")
        assert view.position == min(1, len(tokens) - 1)
        info = str(view.query_one("#token-info").render())
        assert f"token {view.position + 1}/{len(tokens)}" in info
        await pilot.press("p")  # the same key closes it
        await wait_for(pilot, lambda: not isinstance(app.screen, TokenProbsScreen))
        assert app.writing.editor.text == PROMPT  # viewing changes nothing


async def test_swap_and_continue_from_a_candidate(engine):
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await _generate(pilot, app)
        tokens = app.writing.panel.tokens[0]
        await pilot.press("tab", "p")
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        position = min(1, len(tokens) - 1)
        await pilot.press("right")
        # the second alternative that is a whole character (not the one already there)
        top = tokens[position].top
        j = next(
            i
            for i, c in enumerate(top)
            if "\ufffd" not in c.text and c.text != tokens[position].text
        )
        before = len(_requests(app))
        await pilot.press(*["down"] * j, "enter")
        await wait_for(pilot, lambda: len(_requests(app)) > before, 30)
        await wait_for(pilot, lambda: not app.writing.panel.running, 30)
        stem = "".join(t.text for t in tokens[:position]) + top[j].text
        expected_text = app.writing.editor.document.text  # TextArea normalises line breaks
        assert expected_text.splitlines() == (PROMPT + stem).splitlines()
        done = _requests(app)[-1].done
        assert done.prompt_text == expected_text  # N new candidates from the swap point
        # the same as generating from the edited text directly with the same seed
        direct = engine.generate(expected_text, app.writing.current_params(), n=3, seed=done.seed)
        assert [c.text for c in done.candidates] == [c.text for c in direct]
        assert app.writing.panel.texts == [c.text for c in direct]
        await pilot.press("ctrl+z")  # the swap was one undo step
        assert app.writing.editor.text == PROMPT


async def test_swap_in_the_text_just_inserted(engine):
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await _generate(pilot, app)
        tokens = app.writing.panel.tokens[1]
        await pilot.press("tab", "2")
        await pilot.pause()
        inserted = app.writing.editor.text
        await pilot.press("shift+f9")
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        assert app.screen.tokens == list(tokens)
        top = tokens[0].top
        j = next(i for i, c in enumerate(top) if "\ufffd" not in c.text and "\r" not in c.text)
        before = len(_requests(app))
        await pilot.press(*["down"] * j, "enter")
        await wait_for(pilot, lambda: len(_requests(app)) > before, 30)
        # the inserted candidate was cut at token 0 and the alternative put in its place
        assert app.writing.editor.text == PROMPT + top[j].text
        assert _requests(app)[-1].done.prompt_text == PROMPT + top[j].text
        await wait_for(pilot, lambda: not app.writing.panel.running, 30)
        await pilot.press("escape", "ctrl+z")
        assert app.writing.editor.text == inserted
        # once another request has run, f9 has nothing to show
        await pilot.press("shift+f9")
        await wait_for(pilot, lambda: notified(app, "f9 shows the last inserted"))


async def test_inserted_text_with_carriage_returns_or_deleted_since(engine):
    """The editor turns a candidate's "\r\n" into "\n": shift+f9 still finds the inserted
    text (it failed with "Index ... does not correspond to a location" and stopped the app);
    deleted since, it says so."""
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await _generate(pilot, app)
        app.writing.panel.texts[1] = "\r\nA line.\r\n" + app.writing.panel.texts[1]
        await pilot.press("tab", "2")
        await pilot.pause()
        assert app.writing.editor.text.startswith(PROMPT + "\nA line.\n")
        await pilot.press("shift+f9")
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TokenProbsScreen))
        app.writing.editor.select_all()
        await pilot.press("backspace")
        await pilot.press("shift+f9")
        await wait_for(pilot, lambda: notified(app, "f9 shows the last inserted"))
        assert app.is_running


async def test_next_token_at_the_cursor_inserts_the_pick(engine):
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        await type_text(pilot, PROMPT)
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, NextTokenScreen))
        choices = app.screen.choices
        assert len(choices) == 10
        expected = engine.next_tokens(PROMPT, app.writing.current_params(), 10)
        assert [c.token_id for c in choices] == [c.token_id for c in expected]
        options = app.screen.query_one("OptionList")
        assert "%" in str(options.get_option_at_index(0).prompt)
        j = next(i for i, c in enumerate(choices) if "\ufffd" not in c.text and "\r" not in c.text)
        await pilot.press(*["down"] * j, "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, NextTokenScreen))
        assert app.writing.editor.text == PROMPT + choices[j].text
        await pilot.press("ctrl+z")  # one undo step
        assert app.writing.editor.text == PROMPT


async def test_branches_survive_a_restart_and_a_sibling_goes_in_instead():
    from tests.ui.test_app_support import ScriptedEngine
    from writer.ui.screens.branches import BranchesScreen

    engine = ScriptedEngine()
    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await _generate(pilot, app)
        await pilot.press("tab", "1")
        await wait_for(
            pilot,
            lambda: (
                app.writing.drafts.store.generations.recent(app.writing.drafts.draft.id)[0].inserted
                == 0
            ),
        )
        record = app.writing.drafts.store.generations.recent(app.writing.drafts.draft.id)[0]
        first, second = (c["text"] for c in record.candidates[:2])
        await type_text(pilot, " The end.")
        await pilot.press("ctrl+s")
        story = PROMPT + first + " The end."
        assert app.writing.editor.text == story
        # the log keeps the candidates, not their per-token probabilities
        assert "token_logprobs" not in record.candidates[0]

    again = WriterApp(engine_loader=loader_for(engine))
    async with run_app(again, size=(110, 32)) as pilot:
        await wait_for(
            pilot,
            lambda: again.writing.drafts.draft is not None and again.writing.editor.text == story,
        )
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(again.screen, BranchesScreen))
        view = again.screen
        options = view.query_one("OptionList")
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "at …" + PROMPT in prompts[0]  # the point, by the text before it
        assert prompts[1].startswith("  ✓") and first.strip() in prompts[1]  # the path taken
        assert not prompts[2].startswith("  ✓") and second.strip() in prompts[2]
        options.highlighted = 2
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(again.screen, BranchesScreen))
        assert again.writing.editor.text == PROMPT + second + " The end."  # in place of the first
        assert (
            again.writing.drafts.store.generations.recent(again.writing.drafts.draft.id)[0].inserted
            == 1
        )
        await pilot.press("ctrl+z")  # one undo step
        assert again.writing.editor.text == story
        # a point: enter moves the cursor there (the end of the prompt)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(again.screen, BranchesScreen))
        again.screen.query_one("OptionList").highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(again.screen, BranchesScreen))
        assert again.writing.editor.cursor_location == (0, len(PROMPT))


async def test_markup_like_tokens_are_shown_as_text():
    from tests.ui.test_app_support import ScriptedEngine
    from writer.engine.types import TokenChoice, TokenLogprobs

    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=(110, 32)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        tok = TokenLogprobs(1, "[b]x[/b]", -0.1, -0.1, (TokenChoice(1, "[red]", -0.1, -0.1),))
        app.push_screen(TokenProbsScreen([tok], "t"))
        await wait_for(pilot, lambda: isinstance(app.screen, TokenProbsScreen))
        await pilot.pause()
        assert "[b]x[/b]" in str(app.screen.query_one("#token-info").render())
        option = app.screen.query_one("#alternatives").get_option_at_index(0)
        assert "[red]" in str(option.prompt)
        await pilot.press("escape")
        # p on a candidate that has no token data yet says so instead of opening
        app.writing.panel.start(99, "continue", 1)
        app.writing.panel.focus()
        await pilot.press("p")
        await wait_for(pilot, lambda: notified(app, "No token probabilities for this candidate"))
        assert not isinstance(app.screen, TokenProbsScreen)


def test_shading_bands_stand_out_in_every_bundled_theme():
    """Each band's colour is far from the panel's background in each bundled theme, and the
    bands differ by text style too (bold, underline, reverse), which 16-colour terminals keep."""
    from textual.color import Color

    from writer.themes import load_themes
    from writer.ui.screens.tokens import BANDS

    themes = {t.name: t for t in load_themes().themes}
    assert {"writer-dark", "writer-light", "writer-paper"} <= set(themes)
    for name in ("writer-dark", "writer-light", "writer-paper"):
        colours = themes[name].to_color_system().generate()
        surface = Color.parse(colours["surface"])
        for variable in ("success", "warning", "error"):
            colour = surface + Color.parse(colours[variable])
            assert abs(colour.brightness - surface.brightness) >= 0.3, (name, variable)
    attributes = [set(style.split()) & {"bold", "underline", "reverse"} for *_, style in BANDS]
    assert len({frozenset(a) for a in attributes}) == len(BANDS)


async def test_t_shades_the_candidates_tokens_in_the_panel(engine):
    """t in the candidates panel: each finished candidate's tokens in their probability band's
    style, the legend in the border; t again: plain text. Inserting is unchanged."""
    from writer.ui.screens.tokens import band_style

    app = WriterApp(engine_loader=loader_for(engine))
    async with run_app(app, size=(110, 32)) as pilot:
        await _generate(pilot, app)
        panel = app.writing.panel
        plain = [str(panel.get_option_at_index(i).prompt) for i in range(len(panel.texts))]
        await pilot.press("tab", "t")
        assert panel.shading and "shaded:" in panel.border_subtitle
        assert "rare <2%" in panel.border_subtitle and "t: plain" in panel.border_subtitle
        for i, tokens in enumerate(panel.tokens):
            prompt = panel.get_option_at_index(i).prompt
            assert str(prompt).strip() == plain[i].strip()  # the same text, now styled
            styles = {str(span.style) for span in prompt.spans}
            assert {band_style(t.logprob) for t in tokens if t.text.strip("\n")} <= styles
        await pilot.press("t")
        assert not panel.shading and "shaded:" not in panel.border_subtitle
        assert [str(panel.get_option_at_index(i).prompt).strip() for i in range(3)] == [
            p.strip() for p in plain
        ]
        await pilot.press("t", "1")  # shading on, insert: the plain text goes in
        assert app.writing.editor.text.splitlines() == (PROMPT + panel.texts[0]).splitlines()


async def test_t_without_token_probabilities_says_so():
    from tests.ui.test_app_support import ScriptedEngine

    app = WriterApp(engine_loader=loader_for(ScriptedEngine()))
    async with run_app(app, size=(110, 32)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready", 30)
        app.writing.panel.start(99, "continue", 2)  # candidates still being written: no tokens yet
        app.writing.panel.focus()
        await pilot.press("t")
        await wait_for(pilot, lambda: notified(app, "No token probabilities to shade yet"))
        assert not app.writing.panel.shading
        app.writing.panel.start(100, "ideas", 1)  # plot ideas are not shaded
        await pilot.press("t")
        await wait_for(pilot, lambda: notified(app, "Plot ideas are shown plain"))
        assert not app.writing.panel.shading and "shaded:" not in app.writing.panel.border_subtitle
