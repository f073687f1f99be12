"""How revision texts are stored: a compressed full text (a "base") every so often, and each
revision as a small delta against its draft's current base. Pure functions, property-tested.

Why deltas against a base rather than a chain of deltas (each against the previous revision):
restoring any revision reads exactly two rows (its base and its delta), so one damaged row loses
one revision, not every revision after it, and retention can drop any revision without
rewriting the others. Bases are zlib-compressed (stdlib, ~3x on prose, fast enough for a 1 MB
draft inside an autosave; lzma saves another ~25% at ten times the time).

A delta is zlib-compressed JSON: a list whose items are either `[start, length]` (copy that
slice of the base) or a string (insert it). Found by trimming the common head and tail (C-speed
compares), then diffing the middle line by line (difflib), so typing in one place costs a
handful of bytes and a whole-draft rewrite costs about a compressed text.
"""

from __future__ import annotations

import difflib
import json
import zlib

# A middle smaller than this is stored as one insert rather than diffed line by line.
_DIFF_MIN_CHARS = 2048


def compress_text(text: str) -> bytes:
    """`text` as zlib-compressed UTF-8."""
    return zlib.compress(text.encode("utf-8"), 6)


def decompress_text(data: bytes) -> str:
    """The text `compress_text` stored; ValueError when `data` is not such a text."""
    try:
        return zlib.decompress(data).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, TypeError) as exc:
        raise ValueError(f"not a stored text ({exc})") from None


def _common_prefix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search on slice equality: C-speed compares, not a Python loop
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    lo, hi = 0, min(len(a), len(b)) - limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def delta_ops(base: str, text: str) -> list[list[int] | str]:
    """Operations that rebuild `text` from `base` (see the module's docstring)."""
    head = _common_prefix(base, text)
    tail = _common_suffix(base, text, head)
    ops: list[list[int] | str] = []

    def copy(start: int, length: int) -> None:
        if length <= 0:
            return
        last = ops[-1] if ops else None
        if isinstance(last, list) and last[0] + last[1] == start:
            last[1] += length
        else:
            ops.append([start, length])

    def insert(piece: str) -> None:
        if not piece:
            return
        if ops and isinstance(ops[-1], str):
            ops[-1] += piece
        else:
            ops.append(piece)

    copy(0, head)
    old_mid, new_mid = base[head : len(base) - tail], text[head : len(text) - tail]
    if len(old_mid) < _DIFF_MIN_CHARS or len(new_mid) < _DIFF_MIN_CHARS:
        insert(new_mid)
    else:
        old_lines = old_mid.splitlines(keepends=True)
        new_lines = new_mid.splitlines(keepends=True)
        old_starts = [head]
        for line in old_lines:
            old_starts.append(old_starts[-1] + len(line))
        matcher = difflib.SequenceMatcher(None, old_lines, new_lines)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                copy(old_starts[i1], old_starts[i2] - old_starts[i1])
            elif tag in ("replace", "insert"):
                insert("".join(new_lines[j1:j2]))
    copy(len(base) - tail, tail)
    return ops


def make_delta(base: str, text: str) -> bytes:
    """The compressed delta that `apply_delta(base, ...)` turns back into `text`."""
    payload = json.dumps(delta_ops(base, text), ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(payload.encode("utf-8"), 6)


def apply_delta(base: str, delta: bytes) -> str:
    """The text a delta stands for; ValueError when the delta is damaged or not for `base`."""
    try:
        ops = json.loads(zlib.decompress(delta).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError(f"damaged delta ({exc})") from None
    if not isinstance(ops, list):
        raise ValueError("damaged delta (not a list)")
    parts = []
    for op in ops:
        if isinstance(op, str):
            parts.append(op)
        elif (
            isinstance(op, list)
            and len(op) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in op)
            and 0 <= op[0]
            and 0 < op[1]
            and op[0] + op[1] <= len(base)
        ):
            parts.append(base[op[0] : op[0] + op[1]])
        else:
            raise ValueError("damaged delta (an operation outside its base)")
    return "".join(parts)
