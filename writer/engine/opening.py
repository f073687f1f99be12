"""Opening the engine the CLI and the app write with: this machine's model, or a server's.

Kept apart from remote.py so choosing an engine imports neither torch nor httpx until needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from writer.errors import WriterError


def is_engine_url(spec: str | None) -> bool:
    """Whether an --engine / config `engine` value names a server."""
    return bool(spec) and str(spec).strip().lower().startswith(("http://", "https://"))


def open_engine(
    engine: str | None,
    model: str,
    device: str | None = None,
    *,
    precision: str = "auto",
    server_model: str | None = None,
    notice: Callable[[str], None] | None = None,
) -> Any:
    """The engine the CLI and the app write with: a RemoteEngine when `engine` is a server URL
    (`server_model` names its model; None: the only one it serves), else the local model."""
    if is_engine_url(engine):
        from writer.engine.remote.client import RemoteEngine

        return RemoteEngine(str(engine), server_model, notice=notice)
    if engine not in (None, "", "local"):
        raise WriterError(
            f"engine must be a server URL (http://host:port) or 'local'; got {engine!r}"
        )
    from writer.engine import load_engine

    return load_engine(model, device=device, precision=precision)


def remote_engine_loader(
    url: str, server_model: str | None = None, notice: Callable[[str], None] | None = None
) -> Callable[[str, str | None], Any]:
    """An engine loader for the app (`WriterApp(engine_loader=...)`): connects to the server
    at `url` on the app's model worker; the app's model name is only a label then."""
    from writer.engine.remote.client import RemoteEngine
    from writer.engine.remote.http import base_url

    base_url(url)  # a malformed URL fails before the app starts

    def load(name: str, device: str | None) -> RemoteEngine:
        return RemoteEngine(url, server_model, notice=notice or (lambda text: None))

    return load
