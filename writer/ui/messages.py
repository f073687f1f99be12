"""Messages posted from worker threads to the UI thread.

Workers never touch widgets (they would race the event loop); they post one of these and the app
(or the writing screen, for its requests and autosaves) handles it on its own thread. Every
generation message carries the `request` number it belongs to, so messages from a cancelled or
superseded request are dropped instead of mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from writer.engine.types import Candidate, Engine, GenerationDone
from writer.ui.writing.session import SnapshotWritten


@dataclass
class ModelLoading(Message):
    """A model started loading."""

    name: str


@dataclass
class ModelReady(Message):
    """The model loaded; `engine` is the loaded Engine, `device` where it runs."""

    name: str
    engine: Engine
    device: str


@dataclass
class ModelFailed(Message):
    """The model could not be loaded; `reason` is one line for the status bar."""

    name: str
    reason: str


@dataclass
class CandidatesStarted(Message):
    """A request began generating (after waiting for the model, if it had to)."""

    request: int
    mode: str
    n: int


@dataclass
class CandidateDeltas(Message):
    """New text per candidate index since the last message (coalesced over a few tens of ms)."""

    request: int
    deltas: dict[int, str] = field(default_factory=dict)


@dataclass
class CandidateFinished(Message):
    """Candidate `index` is complete; `candidate` is the engine's Candidate."""

    request: int
    index: int
    candidate: Candidate


@dataclass
class GenerationFinished(Message):
    """The request ended; `done` is the engine's GenerationDone."""

    request: int
    done: GenerationDone


@dataclass
class GenerationFailed(Message):
    """The request failed; `reason` is one line for a notification."""

    request: int
    reason: str


@dataclass
class ModelsListed(Message):
    """The models screen's list arrived from a worker (listing may touch the disk at length)."""

    models: list[Any]
    error: str = ""


@dataclass
class AutosaveWritten(Message):
    """The autosave worker wrote (or could not write) a snapshot of the text."""

    result: SnapshotWritten
