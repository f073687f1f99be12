"""What the drafts store hands out: plain dataclasses, and the error raised when a write fails."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from writer.errors import WriterError

# Why a revision was recorded. "auto" revisions are the coalesced ones that retention prunes
# first; every other reason marks a moment the user (or the app) chose and is kept longer.
REASONS: tuple[str, ...] = (
    "auto",  # coalesced autosave history (at most one per revision_interval of activity)
    "create",  # the text a draft was created with
    "insert",  # a generated candidate was inserted
    "restore",  # an older revision was restored
    "before-restore",  # the text that a restore replaced, so restoring can itself be undone
    "import",  # `writer drafts import` / import_file
    "external-save",  # an external file (`writer story.md`) was saved
    "manual",  # the user asked for a snapshot
    "quit",  # the app saved on quit
    "recovered",  # salvaged from a damaged database that was moved aside
)
AUTO = "auto"


class StoreWriteError(WriterError):
    """The database could not be written (disk full, read-only data dir, I/O error).

    Nothing was changed: the failed transaction was rolled back, the store is still usable, and
    the caller still holds the text, so it can tell the user and retry later.
    """


# An idea note ("[Idea: ...]" on its own line) is the author's, not the story's.
_IDEA_NOTE = re.compile(r"^\[Idea: .*\]$", re.MULTILINE)


def word_count(text: str) -> int:
    """Words as a writer counts them: runs of non-space characters, idea notes left out."""
    return len(_IDEA_NOTE.sub("", text).split())


@dataclass
class Draft:
    """One draft as stored. `cursor` is the editor location (row, column), both 0-based;
    `scroll` the editor's first visible line (None: never recorded, so open at the end);
    `word_goal` the author's target length in words (None: no goal)."""

    id: int
    title: str
    text: str
    created: float  # Unix time, seconds
    updated: float
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    cursor: tuple[int, int] = (0, 0)
    external_path: str | None = None
    scroll: int | None = None
    word_goal: int | None = None

    @property
    def word_count(self) -> int:
        return word_count(self.text)

    @property
    def display_title(self) -> str:
        """The title, or a stand-in that still identifies an untitled draft."""
        return self.title or f"Untitled draft {self.id}"


@dataclass(frozen=True)
class DraftSummary:
    """A row of the drafts list: enough to choose one without loading every text."""

    id: int
    title: str
    words: int
    updated: float
    external_path: str | None = None

    @property
    def display_title(self) -> str:
        return self.title or f"Untitled draft {self.id}"


@dataclass(frozen=True)
class Revision:
    """A saved earlier state of a draft. `preview` is the text's last line-ish, for lists.
    `text` is None in a history listing (which rebuilds no text); `get_revision` loads it."""

    id: int
    draft_id: int
    created: float
    words: int
    reason: str
    preview: str
    text: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GenerationRecord:
    """One generation request from the log.

    `candidates` are dicts with at least "text", and usually "tokens", "logprob", "seed";
    `inserted` is the index of the candidate the user inserted, or None.
    `seed` and `params` reproduce the request with `writer generate`.
    """

    id: int
    draft_id: int
    created: float
    mode: str
    params: dict[str, Any]
    seed: int | None
    model: str | None
    candidates: list[dict[str, Any]]
    inserted: int | None = None
    prompt_tail: str | None = None
    # The whole prompt given to the model (None in rows logged before it was stored).
    prompt: str | None = None
