"""The "learn from your picks" hint: once a session, when a draft's insertions with one model add
up to `learn_after` preference pairs, a notification names the `writer learn` command.

Never automatic: it only says what to run. The first insertion of a session counts the draft's
pairs in the store (writer.training.pairs, torch-free); later ones add the candidates passed
over, so an insertion costs one count per session, not a read of the whole log.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any


class LearnHint:
    """Counts pairs as the author inserts candidates; notifies once when `threshold` is reached."""

    def __init__(self, threshold: int, notify: Callable[[str], None]) -> None:
        self.threshold = threshold
        self.notify = notify
        self.offered = False
        self._counted: tuple[int, str] | None = None  # (draft, model) the count is for
        self.pairs = 0

    def inserted(self, store: Any, draft_id: int, model: str | None, passed_over: int) -> None:
        """After an insertion was logged; `passed_over`: the other candidates of its request."""
        if self.offered or self.threshold <= 0 or not model:
            return
        if self._counted != (draft_id, model):
            from writer.training.pairs import pairs_from_log

            self.pairs = len(pairs_from_log(store, [draft_id], model=model))
            self._counted = (draft_id, model)
        else:
            self.pairs += max(0, passed_over)
        if self.pairs >= self.threshold:
            self.offered = True
            command = f"writer learn --name my-taste --draft {draft_id} --base {shlex.quote(model)}"
            self.notify(
                f"{self.pairs} picks to learn from: run `{command}` to teach the model "
                "your taste (see docs/learning.md)."
            )
