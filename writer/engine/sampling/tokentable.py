"""Every token's bytes: the table phrase bans, phrase bias, DRY and the author's note placement
read to match text over any tokenization. Pure Python (no torch), so story framing can use it
without loading torch.

- `TokenTable`: each token's bytes, and lookups "which tokens start with / are a prefix of
  these bytes" (a sorted list and bisection, so a query never scans the vocabulary).
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterable
from typing import Any


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable character table (byte-level BPE token spelling)."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


_BYTE_OF = {c: b for b, c in _bytes_to_unicode().items()}
_TABLES: weakref.WeakKeyDictionary[Any, dict[int, TokenTable]] = weakref.WeakKeyDictionary()


def token_table(tokenizer: Any, vocab_size: int) -> TokenTable:
    """The tokenizer's TokenTable for a model with `vocab_size` logits (built once, ~50 ms)."""
    try:
        tables = _TABLES.setdefault(tokenizer, {})
    except TypeError:  # not weak-referenceable
        return TokenTable(tokenizer, vocab_size)
    if vocab_size not in tables:
        tables[vocab_size] = TokenTable(tokenizer, vocab_size)
    return tables[vocab_size]


class TokenTable:
    """Every token's bytes (lower-cased for matching) and prefix lookups over them."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        known = min(len(tokenizer), vocab_size)
        pieces = tokenizer.convert_ids_to_tokens(list(range(known)))
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        texts: list[bytes] = []
        for i, piece in enumerate(pieces):
            if i in special or piece is None:
                texts.append(b"")  # never part of a phrase
            elif all(c in _BYTE_OF for c in piece):
                texts.append(bytes(_BYTE_OF[c] for c in piece))
            else:  # not byte-level BPE: decode this token alone
                texts.append(tokenizer.decode([i]).encode("utf-8"))
        texts += [b""] * (vocab_size - known)
        self.texts = texts
        self.lower = [t.lower() for t in texts]
        order = sorted((t, i) for i, t in enumerate(self.lower) if t)
        self._sorted = [t for t, _ in order]
        self._sorted_ids = [i for _, i in order]
        self._exact: dict[bytes, list[int]] = {}
        for i, t in enumerate(self.lower):
            if t:
                self._exact.setdefault(t, []).append(i)
        self._containing: dict[bytes, list[int]] = {}

    def starting_with(self, prefix: bytes) -> list[int]:
        """Tokens whose (lower-case) bytes start with `prefix`."""
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = lo
        while hi < len(self._sorted) and self._sorted[hi].startswith(prefix):
            hi += 1
        return self._sorted_ids[lo:hi]

    def prefixes_of(self, text: bytes) -> list[int]:
        """Tokens whose bytes are a non-empty prefix of `text`."""
        found: list[int] = []
        for end in range(1, len(text) + 1):
            found += self._exact.get(text[:end], [])
        return found

    def containing(self, text: bytes) -> list[int]:
        """Tokens whose bytes contain `text` after their first byte (rare: long tokens).

        A scan of the vocabulary (about 5 ms for GPT-2), so remembered per text."""
        if text not in self._containing:
            self._containing[text] = [
                i for i, t in enumerate(self.lower) if len(t) > len(text) and text in t[1:]
            ]
        return self._containing[text]

    def tail(self, ids: Iterable[int], length: int) -> bytes:
        """The last `length` lower-case bytes of the text of `ids` (read from the end)."""
        parts: list[bytes] = []
        have = 0
        for i in reversed(list(ids)):
            piece = self.lower[i]
            parts.append(piece)
            have += len(piece)
            if have >= length:
                break
        return b"".join(reversed(parts))[-length:] if length else b""
