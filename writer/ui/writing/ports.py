"""What the writing screen's components see of each other: small Protocols, no behaviour.

The writing screen (screen.py) owns `Generation`, `Probabilities` and `OpenDraft`, and hands
itself to them as a `WritingHost`; `OpenDraft` hands itself to `FileSync` and `StoreGuard` as
an `OpenDraftPort`. A component types what it is handed with these, so no component imports
the screen (or the open draft) that owns it: the imports run one way, screen -> components ->
ports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from textual.message import Message

    from writer.external import ExternalFile
    from writer.presets import SamplingParams
    from writer.store import DraftStore
    from writer.ui.widgets.candidates import CandidatesPanel
    from writer.ui.widgets.editor import StoryEditor
    from writer.ui.widgets.status import SaveState, StatusBar
    from writer.ui.writing.session import DraftSession


class GenerationPort(Protocol):
    """The screen's generation requests, as the other components use them."""

    def start(self, mode: str) -> None: ...

    def cancel(self) -> None: ...


class InsertedTokensPort(Protocol):
    """The memory of the last inserted candidate's tokens (shift+f9)."""

    def forget_insert(self) -> None: ...

    def remember_insert(self, start: Any, text: str, tokens: Any) -> None: ...


class OpenDraftPort(Protocol):
    """The open draft (saving.py `OpenDraft`): its store, draft, file and saving."""

    store: DraftStore | None
    draft: Any
    external: ExternalFile | None
    file: Path | None
    read_only: bool
    session: DraftSession
    exiting: bool

    @property
    def app(self) -> Any: ...

    @property
    def screen(self) -> WritingHost: ...

    def show_notices(self) -> None: ...

    def save_now(self, reason: str | None = None) -> bool: ...

    def update_save_state(self) -> None: ...

    def release_draft(self) -> None: ...

    def set_word_goal(self, goal: int | None) -> None: ...

    def close_store(self) -> None: ...

    def log_generation(
        self, request: int, mode: str, params: SamplingParams, done: Any
    ) -> None: ...

    def mark_inserted(self, request: int, index: int) -> None: ...

    def record_insert(self, generation_id: int, index: int, with_text: bool = True) -> None: ...


class WritingHost(Protocol):
    """The writing screen as its components see it: its widgets, its sampling choice, its
    status reactives and its other components."""

    presets: dict[str, Any]
    preset_name: str
    overrides: dict[str, Any]
    candidate_count: int
    save_state: SaveState
    context_fill: str
    preset_shown: str
    generation: GenerationPort
    probabilities: InsertedTokensPort
    drafts: OpenDraftPort

    @property
    def app(self) -> Any: ...

    @property
    def editor(self) -> StoryEditor: ...

    @property
    def panel(self) -> CandidatesPanel: ...

    @property
    def status(self) -> StatusBar: ...

    def current_params(self) -> SamplingParams: ...

    def preset_label(self) -> str: ...

    def post_message(self, message: Message) -> bool: ...
