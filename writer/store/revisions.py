"""When to keep a revision and which ones to drop: pure functions, so they can be property-tested.

The store calls these inside its transactions; nothing here touches the database or the clock.

Coalescing keeps *the text about to be replaced* rather than the new text: the current text is
always in the draft itself, so history's job is to hold what the draft used to say. A snapshot is
taken when a save comes at least `interval` seconds after the last one (one per interval of
activity, and the first save after a pause keeps the text as it was left), and whenever a save
would throw away a large piece of text (select-all + delete between two autosaves must not
destroy the only copy).
"""

from __future__ import annotations

from collections.abc import Sequence

from writer.store.models import AUTO

# Characters removed by one save that force a snapshot even inside the interval: about 20 words,
# small enough to protect a deleted paragraph, large enough not to fire on ordinary editing.
LARGE_LOSS_CHARS = 100


def common_prefix_len(a: str, b: str) -> int:
    """Length of the longest common prefix, by binary search on slice equality (C-speed compares,
    so a long draft costs microseconds rather than a Python loop per character)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def lost_chars(old: str, new: str) -> int:
    """How many characters of `old` are gone from `new`, counting the unchanged head and tail.

    An edit in the middle keeps the common prefix and suffix; everything of `old` between them
    was deleted or overwritten.
    """
    prefix = common_prefix_len(old, new)
    rest_old, rest_new = old[prefix:], new[prefix:]
    suffix = common_prefix_len(rest_old[::-1], rest_new[::-1])
    return len(rest_old) - suffix


def snapshot_due(
    *,
    old_text: str,
    new_text: str,
    latest_revision_text: str | None,
    now: float,
    last_boundary: float,
    interval: float,
) -> bool:
    """Should `old_text` (the draft's text before this save) be kept as an "auto" revision?

    `last_boundary` is when the latest revision was taken, or when the draft was created if it
    has none. Never keeps a text that history already ends with, nor a blank one.
    """
    if old_text == new_text or old_text == latest_revision_text or not old_text.strip():
        return False
    if now - last_boundary >= interval:
        return True
    return lost_chars(old_text, new_text) >= LARGE_LOSS_CHARS


def revisions_to_prune(revisions: Sequence[tuple[int, str]], keep: int) -> list[int]:
    """IDs to delete so that at most `keep` revisions remain.

    `revisions` are (id, reason) pairs, oldest first. The oldest "auto" revisions go first, then
    (only if every remaining one was explicit) the oldest of any reason. The newest revision is
    never pruned, whatever `keep` says.
    """
    keep = max(1, keep)
    excess = len(revisions) - keep
    if excess <= 0:
        return []
    candidates = list(revisions[:-1])  # never the newest
    autos = [rid for rid, reason in candidates if reason == AUTO]
    pruned = autos[:excess]
    if len(pruned) < excess:
        chosen = set(pruned)
        others = [rid for rid, _ in candidates if rid not in chosen]
        pruned += others[: excess - len(pruned)]
    return sorted(pruned)
