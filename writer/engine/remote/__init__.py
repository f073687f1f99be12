"""The Engine over an OpenAI-compatible server (vLLM, llama.cpp's server, `writer serve`): the
client (client), each streamed candidate's bookkeeping and events (choices), its HTTP layer
(retries, streaming, errors named for the author: http), and logprobs parsing (logprobs).

May import: httpx, writer.engine.types, writer.engine.story, writer.engine.sampling.stops.
Never torch nor the local runner: a remote engine runs on a machine without them (import-linter
checks this). The names below are exported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.engine.remote.client import RemoteEngine
    from writer.engine.remote.http import base_url

__all__ = [
    "RemoteEngine",
    "base_url",
]


def __getattr__(name: str) -> Any:
    # PEP 562: a name's module is imported on first use, so importing the package stays light.
    if name == "RemoteEngine":
        from writer.engine.remote import client

        return getattr(client, name)
    if name == "base_url":
        from writer.engine.remote import http

        return getattr(http, name)
    raise AttributeError(name)
