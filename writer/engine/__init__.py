"""The torch side of writer: models, sampling, generation. Never imports Textual or the store.

Modules: `types` (the Engine Protocol, events, Candidate; torch-free), `generate` (the Engine),
`decode` (its batched decode loop), `loading` (`load_engine`, precision, threads), `models`
(resolving and loading a model), `opening` (the first words of a new story). Subpackages:
`gpt2` (the fast runner), `sampling`, `story` (context and prompts; torch-free), `remote` (the
Engine over an OpenAI-compatible server).

`load_engine` and `Engine` are imported lazily so `import writer.engine.types` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.engine.generate import Engine
    from writer.engine.loading import load_engine

__all__ = ["Engine", "load_engine"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from writer.engine.generate import Engine

        return Engine
    if name == "load_engine":
        from writer.engine.loading import load_engine

        return load_engine
    raise AttributeError(name)
