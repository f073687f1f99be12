"""The torch side of writer: models, sampling, generation. Never imports Textual.

`load_engine` and `Engine` are imported lazily so `import writer.engine.types` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.engine.generate import Engine, load_engine

__all__ = ["Engine", "load_engine"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from writer.engine import generate

        return getattr(generate, name)
    raise AttributeError(name)
