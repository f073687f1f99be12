"""f8 on the writing screen: the story context dialog (ui/screens/context.py), stored with the
open draft (ui/story_context.py), then the status bar's context fill for the next request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from writer.engine.story.context import StoryContext
from writer.ui.screens.context import ContextScreen, fill_label, measure
from writer.ui.story_context import current_context, save_context
from writer.ui.widgets.editor import prompt_text

if TYPE_CHECKING:
    from writer.ui.writing.ports import WritingHost


def open_context_dialog(screen: WritingHost) -> None:
    """Edit, store, then show the new context fill."""
    app, drafts = screen.app, screen.drafts

    def done(context: StoryContext | None) -> None:
        if context is None or not save_context(drafts, context):
            return
        app.notify("The story context applies to the next request.", title="Story context")
        update_fill(screen, context)

    story = prompt_text(screen.editor.text_before_cursor())
    max_new = screen.current_params().max_new_tokens
    dialog = ContextScreen(current_context(drafts), story, max_new, lambda: app.model.engine)
    app.push_screen(dialog, done)


def update_fill(screen: WritingHost, context: StoryContext) -> None:
    """The status bar's `ctx N/M` for the next request, counted on a worker thread."""
    app = screen.app
    engine = app.model.engine
    if engine is None:
        return
    story = prompt_text(screen.editor.text_before_cursor())
    max_new = screen.current_params().max_new_tokens

    def count() -> None:
        try:
            label = fill_label(measure(engine, story, context, max_new))
        except Exception:  # no tokenizer or no room: the next request's breakdown says
            return
        app.call_from_thread(setattr, screen, "context_fill", label)

    app.run_worker(count, thread=True, exit_on_error=False, group="context-fill")
