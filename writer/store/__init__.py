"""The drafts store: drafts, revisions and the generation log in SQLite, built not to lose text.

    from writer.store import DraftStore
    store = DraftStore.open()          # writer.paths.database_path(); never at import time
    if store.recovery_message: ...     # a corrupt database was moved aside; tell the user
    draft = store.create_draft("The fox")
    store.save_text(draft.id, text, cursor=(row, col))   # autosave; StoreWriteError on failure
    store.generations.log(...)         # the generation log   (generations.GenerationLog)
    store.context.load(draft.id)       # the story context    (context.StoryContexts)
    store.chats.for_draft(draft.id)    # chats                (chats.ChatLog)
    store.judgments.summary(a, b)      # blind comparisons    (judgments.JudgmentLog)

Shape: core.StoreCore holds the connection, transactions (`write()`/`read()`) and the draft and
revision rows; DraftStore (draftstore) is the drafts-and-revisions API over it, and hands the same
core to each collaborator above (composition: no shared `self`). opening.open_core opens,
recovers or salvages the database and returns the core with what it found.
Other modules: models (dataclasses, StoreWriteError), db (SQLite, migrations, recovery),
revisions (pure coalescing/retention rules), revstore (packed revision texts), salvage, locks
(two instances), textio (import/export), export (writing files), acceptance (usage stats),
rebuild (the file deleted, truncated or replaced underneath: written again from the open
connection; `store.check_file()`), rescue (rescue files for text a failed save could not store).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.store.draftstore import DraftStore, normalize_external
    from writer.store.models import (
        REASONS,
        Draft,
        DraftSummary,
        GenerationRecord,
        Revision,
        StoreWriteError,
        word_count,
    )

__all__ = [
    "REASONS",
    "Draft",
    "DraftStore",
    "DraftSummary",
    "GenerationRecord",
    "Revision",
    "StoreWriteError",
    "normalize_external",
    "word_count",
]


def __getattr__(name: str) -> Any:
    # PEP 562: the names load on first use, so importing one light module of the store (the
    # rescue file, the models) does not open the whole store's import graph; the app's first
    # paint imports the saving session, which needs only the rescue file.
    if name in ("DraftStore", "normalize_external"):
        from writer.store import draftstore

        return getattr(draftstore, name)
    if name in __all__:
        from writer.store import models

        return getattr(models, name)
    raise AttributeError(name)
