"""The model the app writes with: loading it on a worker thread, and what came of it.

Owned by the App, since every screen (writing, and later chat) shares one loaded engine. Torch
and transformers are imported only inside the loader (through `writer.engine`), on a worker
thread, so the editor is usable while the model loads. A request made before the model is ready
waits for `settled` in its own worker.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

from textual.app import App

from writer.engine.types import Engine
from writer.errors import error_line, log_exception
from writer.ui.messages import ModelFailed, ModelLoading, ModelReady

EngineLoader = Callable[[str, "str | None"], Engine]


def default_engine_loader(name: str, device: str | None) -> Engine:
    """Load an Engine with writer.engine (imports torch: call it on a worker thread only)."""
    from writer.engine import load_engine

    return load_engine(name, device=device)


def freeze_long_lived_objects() -> None:
    """Move every object alive now out of the garbage collector's reach (`gc.freeze`).

    A model load imports torch and transformers and builds the model: a few hundred thousand
    objects that live as long as the app. Each full collection walked them all, about 150 ms
    with the UI thread held, every few seconds of typing: the keystrokes that echoed late
    (bench/manuscript.py's echo p99). Frozen, they are skipped. Collecting first lets the model
    this load replaced go (`ModelSlot.load` unfreezes), and keeps no garbage frozen.
    """
    gc.collect()
    gc.freeze()


class ModelSlot:
    """The loaded engine (None while loading or after a failure), its name and its error.

    `load` starts a worker on `app` that posts ModelLoading, then ModelReady or ModelFailed to
    the app; the app hands those back to `ready` / `failed`, which ignore a model switched away
    from, and shows the result."""

    def __init__(self, app: App[Any], loader: EngineLoader, device: str | None) -> None:
        self._app = app
        self._loader = loader
        self.device = device
        self.engine: Engine | None = None
        self.name = ""
        self.error = ""
        self.settled = threading.Event()
        """Set once the load ended (ready or failed); requests wait for it."""

    @property
    def loading(self) -> bool:
        """True while a model load is still running (its thread cannot be interrupted)."""
        return not self.settled.is_set()

    def load(self, name: str) -> None:
        """(Re)load model `name` in a worker; requests made meanwhile wait for it."""
        self.engine = None
        self.name = name
        self.error = ""
        self.settled.clear()
        gc.unfreeze()  # the model being replaced (and what refers to it) may be collected
        self._app.post_message(ModelLoading(name))
        device = self.device
        self._app.run_worker(
            lambda: self._load(name, device),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="model",
        )

    def _load(self, name: str, device: str | None) -> None:
        try:
            engine = self._loader(name, device)
        except Exception as exc:  # any failure is shown in the status bar, never a crash
            log_exception(exc)
            freeze_long_lived_objects()  # a failed load has imported as much
            self._app.post_message(ModelFailed(name, error_line(exc)))
        else:
            freeze_long_lived_objects()
            self._app.post_message(ModelReady(name, engine, str(getattr(engine, "device", ""))))
            # What the first request needs but the load did not (the samplers: ~0.5 s of
            # imports), while the author reads the "ready" and writes.
            prepare = getattr(engine, "prepare", None)
            if prepare is not None:
                try:
                    prepare()
                except Exception as exc:  # the first request will meet it and say so
                    log_exception(exc)
                freeze_long_lived_objects()

    def ready(self, message: ModelReady) -> bool:
        """Take the loaded engine; False for a model we switched away from (loaded late)."""
        if message.name != self.name:
            return False
        self.engine = message.engine
        self.settled.set()
        return True

    def failed(self, message: ModelFailed) -> bool:
        """Note why the load failed; False for a model we switched away from."""
        if message.name != self.name:
            return False
        self.error = message.reason
        self.settled.set()
        return True
