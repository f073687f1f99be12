"""Real servers for the remote-engine tests: `writer serve` in a subprocess on a free loopback
port (port 0; the URL is read from its startup line), and a slower model that keeps a stream
open long enough to kill or stall the server mid-generation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx


class ServeProcess:
    """`writer serve` running; `url` is its base URL (without /v1)."""

    def __init__(self, model: Path, env: dict[str, str], *extra: str, timeout: float = 90):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "writer", "serve", "--model", str(model), "--port", "0", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                if "serving" in line:
                    ready.set()
            ready.set()  # it exited

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("writer serve did not start: " + "".join(self.lines))
        line = next(x for x in self.lines if "serving" in x)
        self.url = line.split(" at ", 1)[1].split("/v1", 1)[0]

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, trust_env=False, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(self.url + path, timeout=60, trust_env=False, **kwargs)


def build_long_model(tiny: Path, folder: Path) -> Path:
    """The tiny model's tokenizer with a 1024-token window and wider layers: a 1000-token,
    16-candidate request runs for seconds on a CPU, so a test can act on a stream still open."""
    import shutil

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (tiny / name).exists():
            shutil.copy(tiny / name, folder / name)
    vocab = GPT2Config.from_pretrained(tiny).vocab_size
    eos = GPT2Config.from_pretrained(tiny).eos_token_id
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=vocab,
        n_positions=1024,
        n_embd=128,
        n_layer=4,
        n_head=4,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
