"""The page: a centred column, Markdown at a glance in .md texts, focus mode, the status line,
and writer's themes first in the theme list."""

from __future__ import annotations

from rich.text import Text

from tests.ui.test_app_support import ScriptedEngine, loader_for, run_app, wait_for
from writer.config import load_config
from writer.ui.app import WriterApp
from writer.ui.widgets.page import markdown_spans, paragraph_bounds, side_padding
from writer.ui.widgets.status import StatusBar

STORY = "# Chapter One\n\nThe *sea* was **loud**.\n\n> A quote.\n[Idea: a storm]\nShe ran."
LONG_PARAGRAPH = " ".join(f"word{i}" for i in range(120))


def make_app(file=None, **kwargs) -> WriterApp:
    return WriterApp(file, model="tiny", engine_loader=loader_for(ScriptedEngine()), **kwargs)


def styled(text: Text) -> dict[str, str]:
    """Each styled run of a line: its text -> its style."""
    return {text.plain[s.start : s.end]: str(s.style) for s in text.spans}


# -- the pieces ---------------------------------------------------------------------------------
def test_markdown_spans_of_one_line():
    assert markdown_spans("# Title") == [(0, 7, "heading")]
    assert markdown_spans("#hashtag is not a heading") == []
    assert markdown_spans("> quoted") == [(0, 8, "quote")]
    assert markdown_spans("[Idea: a storm]") == [(0, 15, "note")]
    assert markdown_spans("a *b* and **c** and _d_") == [
        (10, 15, "strong"),
        (2, 5, "emphasis"),
        (20, 23, "emphasis"),
    ]
    assert markdown_spans("snake_case_name and 2 * 3 * 4") == []
    assert markdown_spans("") == []


def test_paragraph_bounds_and_padding():
    lines = ["a", "b", "", "c", "d", "e", ""]
    assert paragraph_bounds(lines, 4) == (3, 5)
    assert paragraph_bounds(lines, 0) == (0, 1)
    assert paragraph_bounds(lines, 2) == (0, 2)  # enter pressed after "b": "a b" stays lit
    assert paragraph_bounds(["a", "", ""], 2) == (2, 2)
    assert side_padding(120, 72) == 23  # 120 - 2 * 23 = 74 cells: 72 + the cursor's + 1 spare
    assert side_padding(120, 72, scrollbar=2) == 22
    assert side_padding(80, 72) == 3
    assert side_padding(60, 72) == 2
    assert side_padding(120, 0) == 2


# -- the column ---------------------------------------------------------------------------------
async def test_the_text_wraps_at_the_column_centred_in_a_wide_terminal(tmp_path):
    story = tmp_path / "story.txt"
    story.write_text(LONG_PARAGRAPH)
    app = make_app(story)
    async with run_app(app, size=(140, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == LONG_PARAGRAPH)
        await pilot.pause()
        editor = app.writing.editor
        assert editor.content_size.width <= 74  # 72 characters (+ the scrollbar's gutter)
        left = editor.styles.padding.left
        assert left == editor.styles.padding.right and left > 20
        # every wrapped line fits the measure
        sections = editor.wrapped_document.get_sections(0)
        assert len(sections) > 1
        assert all(len(section.rstrip()) <= 72 for section in sections)
        # cursor movement and editing behave as before
        editor.move_cursor((0, 0))
        await pilot.press("end")
        assert editor.cursor_location[1] < len(LONG_PARAGRAPH)  # end of the wrapped line
        await pilot.press("ctrl+end", "x")
        assert editor.text == LONG_PARAGRAPH + "x"
        await pilot.press("ctrl+z")
        assert editor.text == LONG_PARAGRAPH


async def test_at_80_columns_the_page_uses_the_width(tmp_path):
    app = make_app()
    async with run_app(app, size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.writing.editor.styles.padding.left <= 3
        assert app.writing.editor.content_size.width >= 72


async def test_column_from_the_palette_is_remembered_and_full_width_allowed(tmp_path):
    app = make_app()
    async with run_app(app, size=(140, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.press(*"column full")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.writing.editor.column == 0)
        await pilot.pause()
        assert app.writing.editor.styles.padding.left == 2
        assert load_config().column == 0


async def test_changing_the_column_rewraps_the_text(tmp_path):
    from writer.ui.writing import page

    story = tmp_path / "story.txt"
    story.write_text(LONG_PARAGRAPH)
    app = make_app(story)
    async with run_app(app, size=(140, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == LONG_PARAGRAPH)
        editor = app.writing.editor

        def widest() -> int:
            return max(len(s.rstrip()) for s in editor.wrapped_document.get_sections(0))

        await wait_for(pilot, lambda: 66 <= widest() <= 72)
        page.set_column(app.writing, 88)
        await wait_for(pilot, lambda: 82 <= widest() <= 88)
        page.set_column(app.writing, 0)
        await wait_for(pilot, lambda: widest() > 120)
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: 88 <= widest() <= 96)


# -- Markdown -----------------------------------------------------------------------------------
async def test_a_markdown_file_is_styled_and_a_txt_file_stays_plain(tmp_path):
    md = tmp_path / "story.md"
    md.write_text(STORY)
    app = make_app(md)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await wait_for(pilot, lambda: app.writing.editor.markdown)
        editor = app.writing.editor
        heading = styled(editor.get_line(0))
        assert "bold" in heading["# Chapter One"]
        line = styled(editor.get_line(2))
        assert "italic" in line["*sea*"] and "bold" in line["**loud**"]
        assert "italic" in styled(editor.get_line(4))["> A quote."]
        assert "[Idea: a storm]" in styled(editor.get_line(5))
        assert styled(editor.get_line(6)) == {}
    txt = tmp_path / "story.txt"
    txt.write_text(STORY)
    app = make_app(txt)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        assert not app.writing.editor.markdown
        assert styled(app.writing.editor.get_line(0)) == {}


async def test_a_theme_sets_the_markdown_styles(tmp_path):
    md = tmp_path / "story.md"
    md.write_text(STORY)
    app = make_app(md, theme="writer-paper")
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.markdown)
        theme = app.current_theme
        assert theme.markdown["heading"] in styled(app.writing.editor.get_line(0))["# Chapter One"]


# -- focus mode ---------------------------------------------------------------------------------
async def test_focus_mode_hides_the_bars_dims_other_paragraphs_and_is_remembered(tmp_path):
    md = tmp_path / "story.txt"
    md.write_text(STORY)
    app = make_app(md)
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        app.writing.editor.move_cursor((2, 3))
        await pilot.press("ctrl+backslash")
        assert app.writing.editor.focus_mode
        assert not app.writing.status.display
        await pilot.pause()
        assert styled(app.writing.editor.get_line(2)) == {}  # the paragraph being written
        assert STORY.splitlines()[0] in styled(app.writing.editor.get_line(0))  # dimmed
        # every writer key still works
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not app.writing.panel.running and app.writing.panel.texts[0])
        await pilot.press("escape")
        assert load_config().focus is True
    again = make_app(md)
    async with run_app(again) as pilot:
        await pilot.pause()
        assert again.writing.editor.focus_mode and not again.writing.status.display
        await pilot.press("ctrl+backslash")
        assert not again.writing.editor.focus_mode and again.writing.status.display
    assert load_config().focus is False


# -- the status line ----------------------------------------------------------------------------
async def test_status_line_fields_and_what_drops_at_80_columns(tmp_path):
    story = tmp_path / "story.md"
    story.write_text("One two three.")
    app = make_app(story)
    async with run_app(app, size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        app.writing.context_fill = "ctx 12/1024"
        await pilot.pause()
        line = app.writing.status.render().plain
        assert (
            line == "story.md · 3 words · balanced · tiny ready (cpu, fp32) · ctx 12/1024 · saved"
        )
        app.writing.status.speed = 12.5
        assert "tok/s" not in app.writing.status.render().plain  # shown in the candidates panel
        app.writing.model_state = "error"
        app.writing.model_detail = "x" * 300
        app.writing.status.title = "a very long title of a novel in progress.md"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        line = app.writing.status.render().plain
        # the title and preset gave way; the word count, the model and the save state stay
        assert line == "3 words · model error: " + "x" * 31 + "… · saved"
        app.writing.save_state = "file changed on disk"
        await pilot.resize_terminal(40, 24)
        await pilot.pause()
        line = app.writing.status.render().plain
        assert line == "model error · file changed on disk"
        await pilot.resize_terminal(24, 24)
        await pilot.pause()
        assert app.writing.status.render().plain == "file changed on disk"


def test_status_bar_shortens_errors():
    from writer.ui.widgets.status import shorten

    assert shorten("a\nb", 10) == "a b"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"
    assert StatusBar.TitleChanged("t").title == "t"


async def test_footer_at_80x24_shows_save_help_continue_quit():
    app = make_app()
    async with run_app(app, size=(80, 24)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one("Footer")
        # the palette's key sits at the right, over columns 68-80
        keys = {k.description for k in footer.query("FooterKey") if k.region.right <= 68}
        for wanted in ("Save", "Help", "Continue", "Quit"):
            assert wanted in keys


# -- the theme list -----------------------------------------------------------------------------
async def test_writers_themes_come_first_in_the_theme_list():
    from writer.ui.themelist import ordered_theme_names

    app = make_app()
    async with run_app(app) as pilot:
        await pilot.pause()
        names = ordered_theme_names(app)
        assert names[:3] == ["writer-dark", "writer-light", "writer-paper"]
        assert "textual-dark" in names[3:]
        app.action_change_theme()
        await pilot.pause(0.5)
        options = app.screen.query_one("CommandList")
        shown = [str(options.get_option_at_index(i).prompt) for i in range(4)]
        assert shown[:3] == ["writer-dark", "writer-light", "writer-paper"], shown


# -- theme files --------------------------------------------------------------------------------
def test_bundled_themes_define_every_markdown_style(tmp_path):
    from writer.themes import MARKDOWN_KINDS, load_themes

    loaded = load_themes(tmp_path / "none")
    assert not loaded.errors
    for theme in loaded.themes:
        assert set(theme.markdown) == set(MARKDOWN_KINDS), theme.name


def test_a_bad_markdown_table_skips_the_theme_with_its_reason(tmp_path):
    from writer.themes import load_themes

    (tmp_path / "a.toml").write_text('primary = "#123456"\n[markdown]\ntitle = "bold"\n')
    (tmp_path / "b.toml").write_text('primary = "#123456"\n[markdown]\nheading = "bold nonsense"\n')
    (tmp_path / "c.toml").write_text('primary = "#123456"\n[markdown]\nnote = "dim italic"\n')
    loaded = load_themes(tmp_path)
    assert [t.name for t in loaded.themes if t.name in "abc"] == ["c"]
    errors = "\n".join(loaded.errors)
    assert "a.toml: [markdown] unknown key 'title'" in errors
    assert "b.toml: [markdown] heading = 'bold nonsense' is not a style" in errors


# -- the column keeps every editing behaviour ---------------------------------------------------
async def test_in_the_column_clicks_selection_find_and_insertion_work_as_before(tmp_path):
    story = tmp_path / "story.md"
    story.write_text(STORY)
    app = make_app(story)
    async with run_app(app, size=(140, 30)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "ready")
        await pilot.pause()
        editor = app.writing.editor
        left = editor.styles.padding.left
        assert left > 20
        await pilot.click(editor, offset=(left + 4, 2))  # on "*sea*" of the third line
        assert editor.cursor_location == (2, 4)
        await pilot.press("shift+right", "shift+right", "shift+right", "shift+right", "shift+right")
        assert editor.selected_text == "*sea*"
        await pilot.press("ctrl+f")
        await pilot.pause()
        await pilot.press(*"quote", "enter")
        await wait_for(pilot, lambda: editor.selected_text == "quote")
        await pilot.press("f6")
        assert editor.selected_text == "quote"  # the only match, found again
        await pilot.press("ctrl+end", "ctrl+g")
        await wait_for(pilot, lambda: not app.writing.panel.running and app.writing.panel.texts[0])
        await pilot.press("tab", "1")
        await wait_for(pilot, lambda: editor.text.startswith(STORY) and editor.text != STORY)
        await pilot.press("ctrl+z")
        assert editor.text == STORY


async def test_a_draft_titled_md_is_styled_and_a_theme_switch_restyles(tmp_path):
    from writer.store import DraftStore

    with DraftStore.open() as store:
        store.create_draft("Notes.md", STORY)
    app = make_app()
    async with run_app(app) as pilot:
        await wait_for(pilot, lambda: app.writing.editor.text == STORY)
        await wait_for(pilot, lambda: app.writing.editor.markdown)
        before = styled(app.writing.editor.get_line(0))["# Chapter One"]
        app.theme = "writer-paper"
        await pilot.pause()
        app.writing.editor.render_lines(app.writing.editor.region)
        after = styled(app.writing.editor.get_line(0))["# Chapter One"]
        assert before != after and app.current_theme.markdown["heading"] in after


def test_column_and_focus_in_config_are_checked(tmp_path):
    import re

    import pytest

    from writer.errors import WriterError

    path = tmp_path / "config.toml"
    for bad, says in (
        ("column = 5", "column must be 0 (full width)"),
        ("column = 72.5", "column must be 0"),
        ('focus = "yes"', "focus must be true or false"),
    ):
        path.write_text(bad)
        with pytest.raises(WriterError, match=re.escape(says)):
            load_config(path)
    path.write_text("column = 0\nfocus = true\n")
    config = load_config(path)
    assert (config.column, config.focus) == (0, True)


async def test_styling_a_1mb_markdown_manuscript_touches_only_lines_drawn(tmp_path, monkeypatch):
    """Typing restyles what is on screen, never the document (no timing: a count of lines)."""
    import writer.ui.widgets.editor as editor_module

    paragraph = "The *keeper* climbed the **stairs** again.\n# Part\n> log\n\n"
    text = paragraph * (1_000_000 // len(paragraph))
    story = tmp_path / "novel.md"
    story.write_text(text)
    styled_lines: list[str] = []
    real = editor_module.markdown_spans

    def counting(line: str):
        styled_lines.append(line)
        return real(line)

    monkeypatch.setattr(editor_module, "markdown_spans", counting)
    app = make_app(story)
    async with run_app(app, size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.writing.editor.text) == len(text), 30)
        await wait_for(pilot, lambda: app.writing.editor.markdown)
        await pilot.press("x")
        await pilot.pause()
        styled_lines.clear()
        await pilot.press("y", "z")
        await pilot.pause()
        assert app.writing.editor.document.line_count > 50_000
        assert 0 < len(styled_lines) < 30 * 6  # a few frames of the visible rows


async def test_a_long_model_error_is_short_in_the_bar_and_whole_in_the_models_screen():
    from textual.widgets import Static

    from tests.ui.test_app_support import notices

    reason = "the weights are missing: " + "x" * 200

    def failing(name, device):
        raise RuntimeError(reason)

    app = WriterApp(model="broken", engine_loader=failing)
    async with run_app(app, size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.writing.status.model_state == "error")
        await pilot.pause()
        bar = app.writing.status.render().plain
        assert "model error: " in bar and "x" * 40 not in bar and bar.endswith("saved")
        await wait_for(pilot, lambda: any("x" * 200 in n for n in notices(app)))
        await pilot.press("f5")
        await pilot.pause()
        shown = str(app.screen.query_one("#load-error", Static).render())
        assert "x" * 200 in shown.replace("\n", "")


async def test_focus_mode_from_the_palette():
    app = make_app()
    async with run_app(app, size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.press(*"focus mode")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.writing.editor.focus_mode)
        assert not app.writing.status.display and not app.screen.query_one("Footer").display
        await pilot.press("ctrl+p")  # the palette still opens, the way back
        await pilot.press(*"focus mode")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.writing.editor.focus_mode)
        assert app.writing.status.display
