"""f8 on the writing screen: the story context dialog (ui/screens/context.py), stored with the
open draft (ui/story_context.py), then the status bar's context fill for the next request
(recall included). A recalled passage chosen in the dialog's viewer moves the cursor there."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from writer.engine.story.context import StoryContext
from writer.ui.screens.context import ContextScreen, fill_label, measure
from writer.ui.story_context import current_context, request_context, save_context
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
    dialog = ContextScreen(
        current_context(drafts),
        story,
        max_new,
        lambda: app.model.engine,
        recall=lambda context: with_request_recall(screen, context),
        jump=lambda start: jump_to(screen, start),
    )
    app.push_screen(dialog, done)


def with_request_recall(screen: WritingHost, context: StoryContext) -> StoryContext:
    """`context` (as edited) with the recall the next request would have."""
    request = request_context(screen.drafts, screen.editor)
    return replace(context, recall_tokens=request.recall_tokens, recaller=request.recaller)


def jump_to(screen: WritingHost, start: int) -> None:
    """Move the cursor to `start`, an offset in the text before the cursor (lines joined by
    one line break), and show it."""
    editor = screen.editor
    row = 0
    lines = editor.document.lines
    while row < len(lines) - 1 and start > len(lines[row]):
        start -= len(lines[row]) + 1
        row += 1
    editor.move_cursor((row, max(0, min(start, len(lines[row])))), center=True)
    editor.focus()


def update_fill(screen: WritingHost, context: StoryContext) -> None:
    """The status bar's `ctx N/M` for the next request (recall included), counted on a worker
    thread."""
    app = screen.app
    engine = app.model.engine
    if engine is None:
        return
    story = prompt_text(screen.editor.text_before_cursor())
    max_new = screen.current_params().max_new_tokens
    context = with_request_recall(screen, context)

    def count() -> None:
        try:
            label = fill_label(measure(engine, story, context, max_new))
        except Exception:  # no tokenizer or no room: the next request's breakdown says
            return
        app.call_from_thread(setattr, screen, "context_fill", label)

    app.run_worker(count, thread=True, exit_on_error=False, group="context-fill")
