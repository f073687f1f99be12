"""The "learn from your picks" offer: once a session, when a draft's insertions with one model add
up to `learn_after` preference pairs, the status bar offers the learn key and a notification
names it (and the `writer learn` command that does the same).

Never automatic: it only offers. The first insertion of a session counts the draft's pairs in the
store (writer.training.pairs, torch-free); later ones add the candidates passed over, so an
insertion costs one count per session, not a read of the whole log.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any


class LearnHint:
    """Counts pairs as the author inserts candidates; offers once when `threshold` is reached.

    `offer(pairs)` is called then (the status bar shows the key); `key()` is the learn key as
    shown to the author, taken from its binding ("" when there is none: only the command).
    """

    def __init__(
        self,
        threshold: int,
        notify: Callable[[str], None],
        offer: Callable[[int], None] | None = None,
        key: Callable[[], str] | None = None,
    ) -> None:
        self.threshold = threshold
        self.notify = notify
        self.offer = offer
        self.key = key
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
            key = self.key() if self.key is not None else ""
            if self.offer is not None:
                self.offer(self.pairs)
            if key:
                self.notify(
                    f"{self.pairs} picks to learn from: press {key} to teach the model your "
                    f"taste (the same as `{command}`; see docs/learning.md)."
                )
            else:
                self.notify(
                    f"{self.pairs} picks to learn from: run `{command}` to teach the model "
                    "your taste (see docs/learning.md)."
                )
