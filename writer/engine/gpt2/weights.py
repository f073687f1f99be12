"""Loading a GPT-2 checkpoint folder straight into the engine, without transformers' model code.

Why: importing transformers' GPT-2 modelling pulls in torch._dynamo, torch.distributed and sympy
(measured: 2.4 s on the target CPU, on top of torch's 1 s), which alone would break the "model
ready within 3 s" budget of the app. A plain GPT-2 folder (config.json, model.safetensors,
tokenizer.json) needs only safetensors and tokenizers to load; `GPT2Runner` does the rest.
Anything else (LoRA adapters, sharded or .bin weights, other architectures) goes through
transformers as before (`writer.engine.models.load_model_and_tokenizer`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from writer.engine.gpt2.runner import GPT2Runner, GPT2Shape
from writer.engine.models import all_finite
from writer.errors import WriterError

EOS_TEXT = "<|endoftext|>"


class FastTokenizer:
    """The slice of a transformers tokenizer the engine uses, over `tokenizers.Tokenizer`.

    Encoding adds no special tokens and decoding does no clean-up, exactly as the engine asks
    of transformers' GPT2TokenizerFast, whose core is this same tokenizers object.
    """

    def __init__(self, path: Path, eos_token_id: int | None) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        if eos_token_id is None:
            eos_token_id = self._tok.token_to_id(EOS_TEXT)
        self.eos_token_id = eos_token_id

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text, add_special_tokens)}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=add_special_tokens).ids)

    def encode_long(self, text: str) -> list[int]:
        """`encode` for a long text on a worker thread: tokenizers' encode_batch releases the GIL
        while it works (encode holds it: 1.2 s for 1 MB, during which no other thread runs);
        0.6 ms slower per call, so the engine's own short encodes keep `encode`."""
        return list(self._tok.encode_batch([text], add_special_tokens=False)[0].ids)

    def decode(
        self,
        ids: list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool = False,
    ) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str | None]:
        """Token spellings (byte-level: GPT-2's printable stand-ins for bytes)."""
        return [self._tok.id_to_token(i) for i in ids]

    @property
    def all_special_ids(self) -> list[int]:
        return [] if self.eos_token_id is None else [self.eos_token_id]


class LazyTensors(Mapping[str, torch.Tensor]):
    """A safetensors file's tensors, each read (and converted) only when asked for.

    Why: the runner turns each matrix into its packed or int8 form as it goes, so reading one
    tensor at a time keeps the load's peak near the final size instead of file + copies
    (GPT-2 XL: ~2 GB in int8 instead of ~12 GB). Each read copies the tensor out of a mapping
    that is closed again at once, so no mapped pages stay resident.
    """

    def __init__(self, path: Path, device: str, dtype: torch.dtype) -> None:
        from safetensors import safe_open

        self.path, self.device, self.dtype = path, device, dtype
        try:
            with safe_open(str(path), framework="pt") as f:
                self._names = list(f.keys())
        except Exception as exc:  # SafetensorError: a truncated or damaged file
            if type(exc).__name__ != "SafetensorError":
                raise
            raise WriterError(
                f"the model weights {path} are damaged ({str(exc).splitlines()[0]}); copy the "
                "model again, or `writer download NAME` for a hub model"
            ) from None
        self._known = set(self._names)

    def __getitem__(self, name: str) -> torch.Tensor:
        from safetensors import safe_open

        if name not in self._known:
            raise KeyError(name)
        with safe_open(str(self.path), framework="pt") as f:
            t = f.get_tensor(name)
        if t.is_floating_point() and not all_finite(t):
            raise WriterError(  # a diverged fine-tune: only garbage or NaN could come out
                f"the model weights {self.path} hold values that are not numbers (NaN or "
                f"infinity, in {name}); fine-tune it again with a lower --lr, or use another model"
            )
        if t.is_floating_point():
            converted = t.to(device=self.device, dtype=self.dtype)
            return converted.clone() if converted.data_ptr() == t.data_ptr() else converted
        return t.to(self.device).clone()

    def __contains__(self, name: object) -> bool:
        # Mapping's own `in` reads the tensor (a copy of it) just to answer: 0.2 s of GPT-2
        # small's load went to reading every tensor twice.
        return name in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass
class GPT2Checkpoint:
    """A GPT-2 folder read into tensors; `Engine` turns it into a runner and drops the tensors."""

    folder: Path
    shape: GPT2Shape
    config: dict[str, Any]
    tensors: Mapping[str, torch.Tensor] = field(repr=False)

    def build_runner(self, int8: bool = False) -> GPT2Runner:
        """The engine's runner (oneDNN-packed, or int8 with `int8`); drops our tensors."""
        runner = GPT2Runner(self.shape, self.tensors, pack=True, int8=int8)
        # The runner holds packed copies of the block matrices and the small tensors it needs;
        # dropping ours frees the originals.
        self.tensors = {}
        return runner


def fast_loadable(folder: Path) -> dict[str, Any] | None:
    """config.json of `folder` if it is a plain single-file safetensors GPT-2, else None."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or GPT2Shape.from_config(config) is None:
        return None
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        return None
    return config


def load_checkpoint(
    folder: Path, config: dict[str, Any], device: str, dtype: torch.dtype
) -> tuple[GPT2Checkpoint, FastTokenizer]:
    """Open the weights (read one tensor at a time while the runner is built: LazyTensors)
    and the tokenizer."""
    shape = GPT2Shape.from_config(config)
    assert shape is not None
    tensors = LazyTensors(folder / "model.safetensors", device, dtype)
    eos = config.get("eos_token_id")
    tokenizer = FastTokenizer(folder / "tokenizer.json", eos if isinstance(eos, int) else None)
    return GPT2Checkpoint(folder, shape, config, tensors), tokenizer
