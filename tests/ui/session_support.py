"""DraftSession tests without an app: a clock the test moves, and a session on a fresh draft."""

from __future__ import annotations

from collections.abc import Iterator

from writer.store import DraftStore
from writer.ui.writing.session import DraftSession


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def open_session(clock: Clock, title: str) -> Iterator[DraftSession]:
    """A session autosaving every 0.5 s by `clock`, on a new draft named `title`; closed after."""
    session = DraftSession(DraftStore.open, autosave_interval=0.5, clock=clock)
    session.store = DraftStore.open()
    session.draft = session.store.create_draft(title)
    yield session
    session.store.close()
