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


def build_gguf(model_dir: Path, path: Path) -> Path:
    """The tiny GPT-2 as a GGUF file for llama.cpp (what llama.cpp's convert_hf_to_gguf.py
    writes for GPT2LMHeadModel, f32, written here because the `gguf` package ships no
    converter): hyper-parameters, the byte-level BPE vocabulary and merges, and the tensors
    under llama.cpp's names (HF's Conv1D weights transposed to (out, in))."""
    import json

    import gguf
    import numpy as np
    from transformers import GPT2LMHeadModel, GPT2TokenizerFast

    model = GPT2LMHeadModel.from_pretrained(model_dir)
    tokenizer = GPT2TokenizerFast.from_pretrained(model_dir)
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_name("tiny-gpt2")
    writer.add_context_length(cfg.n_positions)
    writer.add_embedding_length(cfg.n_embd)
    writer.add_feed_forward_length(4 * cfg.n_embd)
    writer.add_block_count(cfg.n_layer)
    writer.add_head_count(cfg.n_head)
    writer.add_layer_norm_eps(cfg.layer_norm_epsilon)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    vocab = cfg.vocab_size
    eos = tokenizer.eos_token_id
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokenizer.convert_ids_to_tokens(list(range(vocab))))
    types = [gguf.TokenType.NORMAL] * vocab
    types[eos] = gguf.TokenType.CONTROL
    writer.add_token_types(types)
    merges = json.loads((model_dir / "tokenizer.json").read_text("utf-8"))["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_bos_token_id(eos)
    writer.add_eos_token_id(eos)
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    conv = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    names = {
        "transformer.wte.weight": "token_embd.weight",
        "transformer.wpe.weight": "position_embd.weight",
        "transformer.ln_f.weight": "output_norm.weight",
        "transformer.ln_f.bias": "output_norm.bias",
        "lm_head.weight": "output.weight",
    }
    parts = {
        "ln_1": "attn_norm",
        "attn.c_attn": "attn_qkv",
        "attn.c_proj": "attn_output",
        "ln_2": "ffn_norm",
        "mlp.c_fc": "ffn_up",
        "mlp.c_proj": "ffn_down",
    }
    for i in range(cfg.n_layer):
        for hf, ours in parts.items():
            for kind in ("weight", "bias"):
                names[f"transformer.h.{i}.{hf}.{kind}"] = f"blk.{i}.{ours}.{kind}"
    for hf, ours in names.items():
        data = state[hf]
        if hf.endswith(conv):
            data = np.ascontiguousarray(data.T)
        writer.add_tensor(ours, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
