"""`writer [FILE]` options checked before the app starts: `--theme` takes every theme the app's
theme list offers (writer's and Textual's own), and an unknown one is one usage line."""

from __future__ import annotations

from textual.theme import BUILTIN_THEMES

from tests.conftest import call_writer
from writer.ui.app import WriterApp
from writer.ui.model import ModelSlot


def test_theme_takes_every_theme_the_app_lists(isolated_user_dirs, monkeypatch):
    started: list[str | None] = []
    monkeypatch.setattr(WriterApp, "run", lambda self: started.append(self.requested_theme))
    monkeypatch.setattr(ModelSlot, "loading", property(lambda self: False))  # no early exit
    for name in ("dracula", "nord", "textual-light", "writer-paper"):
        proc = call_writer("--theme", name, env=isolated_user_dirs)
        assert proc.returncode == 0, proc.stderr
    assert started == ["dracula", "nord", "textual-light", "writer-paper"]


def test_an_unknown_theme_is_one_usage_line_listing_textuals_themes_too(isolated_user_dirs):
    proc = call_writer("--theme", "no-such-theme", env=isolated_user_dirs)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "unknown theme 'no-such-theme'" in lines[0]
    assert "dracula" in lines[0] and "writer-dark" in lines[0]
    assert "dracula" in BUILTIN_THEMES


def test_drafts_show_lists_the_drafts_f2_settings(isolated_user_dirs):
    from writer.store import DraftStore

    store = DraftStore.open()
    try:
        draft = store.create_draft("Rain", "It rained.\n[Idea: a storm]\n")
        store.set_draft_settings(draft.id, overrides={"candidates": 4, "temperature": 1.2})
    finally:
        store.close()
    proc = call_writer("drafts", "show", str(draft.id), env=isolated_user_dirs)
    assert proc.returncode == 0, proc.stderr
    assert "candidates=4" in proc.stdout and "temperature=1.2" in proc.stdout
    assert "words: 2 " in proc.stdout  # the idea note is the author's, not the story's
