"""The fast GPT-2: the runner that owns the weights and the decode step (runner), its layers
(oneDNN-packed, int8 or plain products: layers, quant), KV caches (kv), loading a GPT-2 folder
without transformers' model code (weights), CUDA graphs (cuda_graphs), and the back ends that
drive it, with the thread governor (backends).

May import: torch, writer.errors. Never the store, Textual, or the other engine subpackages
(sampling, story, remote): the Engine in writer.engine.generate composes them (import-linter
checks this). The names below are exported lazily (the package import loads nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.engine.gpt2.backends import ThreadGovernor, TransformersBackend, make_backend
    from writer.engine.gpt2.quant import int8_available
    from writer.engine.gpt2.runner import GPT2Runner, GPT2Shape
    from writer.engine.gpt2.weights import GPT2Checkpoint, fast_loadable, load_checkpoint

__all__ = [
    "ThreadGovernor",
    "TransformersBackend",
    "make_backend",
    "int8_available",
    "GPT2Runner",
    "GPT2Shape",
    "GPT2Checkpoint",
    "fast_loadable",
    "load_checkpoint",
]


def __getattr__(name: str) -> Any:
    # PEP 562: a name's module is imported on first use, so importing the package stays light.
    if name in ("ThreadGovernor", "TransformersBackend", "make_backend"):
        from writer.engine.gpt2 import backends

        return getattr(backends, name)
    if name == "int8_available":
        from writer.engine.gpt2 import quant

        return getattr(quant, name)
    if name in ("GPT2Runner", "GPT2Shape"):
        from writer.engine.gpt2 import runner

        return getattr(runner, name)
    if name in ("GPT2Checkpoint", "fast_loadable", "load_checkpoint"):
        from writer.engine.gpt2 import weights

        return getattr(weights, name)
    raise AttributeError(name)
