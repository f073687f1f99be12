"""Turn the engine's event stream into a few UI messages (runs on a worker thread).

No Textual widgets here and no torch: `relay_stream` only iterates a generator and calls `post`.
Token deltas are coalesced: one message per `interval` seconds at most, so four candidates
streaming at 50 tokens/s each cost the event loop ~25 messages a second, not 200, and typing
stays responsive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from textual.message import Message

from writer.ui.messages import CandidateDeltas, CandidateFinished, GenerationFinished

DEFAULT_INTERVAL = 0.04  # seconds; fast enough to look live, slow enough not to flood


def relay_stream(
    events: Iterable[Any],
    request: int,
    post: Callable[[Message], Any],
    interval: float = DEFAULT_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Post the events of one request as messages; return the final GenerationDone (or None).

    Deltas are buffered per candidate and flushed every `interval` seconds, before a candidate's
    CandidateFinished, and before the end, so no text is ever lost or reordered.
    """
    from writer.engine.types import CandidateDone, GenerationDone, TokenDelta

    pending: dict[int, str] = {}
    last_flush = clock()

    def flush() -> None:
        nonlocal last_flush
        if pending:
            post(CandidateDeltas(request, dict(pending)))
            pending.clear()
        last_flush = clock()

    for event in events:
        if isinstance(event, TokenDelta):
            if event.text:
                pending[event.index] = pending.get(event.index, "") + event.text
            if clock() - last_flush >= interval:
                flush()
        elif isinstance(event, CandidateDone):
            flush()
            post(CandidateFinished(request, event.index, event.candidate))
        elif isinstance(event, GenerationDone):
            flush()
            post(GenerationFinished(request, event))
            return event
    flush()
    return None
