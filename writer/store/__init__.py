"""The drafts store: drafts, revisions and the generation log in SQLite, built not to lose text.

    from writer.store import DraftStore
    store = DraftStore.open()          # writer.paths.database_path(); never at import time
    if store.recovery_message: ...     # a corrupt database was moved aside; tell the user
    draft = store.create_draft("The fox")
    store.save_text(draft.id, text, cursor=(row, col))   # autosave; StoreWriteError on failure

Modules: models (dataclasses, StoreWriteError), db (SQLite, migrations, recovery), revisions
(pure coalescing/retention rules), locks (two instances), textio (import/export), draftstore.
"""

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
