"""The author's text as token ids: find the files, read them, fingerprint them, split them.

Shared by `writer finetune` (train + held-out split) and `writer eval` (the whole text), so both
measure perplexity on token streams built the same way: every document starts with the
end-of-text token, which GPT-2 uses as its document separator, so the first word of each file is
predicted too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writer.errors import WriterError
from writer.textfiles import read_text_file

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")


@dataclass(frozen=True)
class Corpus:
    """The text files found, their contents (in a stable order) and a fingerprint of the text."""

    files: list[Path]
    texts: list[str]
    fingerprint: str

    @property
    def characters(self) -> int:
        """Total characters over all files."""
        return sum(len(text) for text in self.texts)


def find_text_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files named, plus every .txt/.md file under the folders named (recursively), sorted.

    A file named explicitly is used whatever its suffix: the author chose it. Hidden files and
    folders (".git", ".obsidian") are skipped when walking.
    """
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in path.rglob("*"):
                relative = child.relative_to(path).parts
                if any(part.startswith(".") for part in relative):
                    continue
                if child.is_file() and child.suffix.lower() in TEXT_SUFFIXES:
                    found.add(child.resolve())
        elif os.path.lexists(path):
            # Named explicitly: read_corpus says what is wrong with it if it is not a text file
            # (a FIFO or a device is refused there, without being opened for long).
            found.add(path.resolve())
        else:
            raise WriterError(f"{raw}: no such file or folder; check the path")
    if not found:
        names = ", ".join(str(p) for p in paths) or "(nothing)"
        raise WriterError(
            f"no text files found in {names}; pass .txt or .md files, or folders that hold them"
        )
    return sorted(found)


def read_corpus(paths: Sequence[str | Path], *, use: str = "train on") -> Corpus:
    """Read every text file under `paths` as UTF-8; fingerprint the contents (not the names).

    `use` finishes the "add some writing to ..." hint for empty files ("train on", "evaluate").
    """
    files = find_text_files(paths)
    texts: list[str] = []
    digest = hashlib.sha256()
    for file in files:
        text = read_text_file(file, purpose="read")
        # Normalise line endings so the same text saved on Windows fingerprints the same.
        text = text.replace("\r\n", "\n")
        texts.append(text)
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    if not any(text.strip() for text in texts):
        raise WriterError(
            f"the text files found ({len(files)}) are empty; add some writing to {use}"
        )
    return Corpus(files=files, texts=texts, fingerprint="sha256:" + digest.hexdigest()[:32])


def encode_documents(tokenizer: Any, texts: Iterable[str]) -> list[int]:
    """One token stream: each non-empty document preceded by the end-of-text token."""
    separator = tokenizer.eos_token_id
    ids: list[int] = []
    for text in texts:
        if not text.strip():
            continue
        if separator is not None:
            ids.append(separator)
        # The backend tokenizer has no model-length warning: long files are expected here.
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            ids.extend(backend.encode(text, add_special_tokens=False).ids)
        else:
            ids.extend(tokenizer.encode(text, add_special_tokens=False))
    return ids


def split_holdout(ids: Sequence[int], fraction: float) -> tuple[list[int], list[int]]:
    """(train, held out): the last `fraction` of the stream is held out, as nanoGPT does.

    Deterministic on purpose, so perplexity before/after and a resumed run see the same split.
    """
    if not 0 < fraction < 1:
        raise ValueError("fraction must be between 0 and 1")
    cut = len(ids) - max(2, round(len(ids) * fraction))
    return list(ids[:cut]), list(ids[cut:])
