"""Blind comparison sessions and the author's judgments (`writer compare`).

A comparison pits A against B (each a model, a preset, or MODEL@PRESET) on passages of one
text. Each judgment records which continuation was shown first (`a_first`), so the order the
author saw can be checked afterwards, and the texts judged. Sessions resume: the same A, B,
text and pair sizes continue the latest unfinished session at its first unjudged passage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from writer.errors import WriterError
from writer.store.core import StoreCore

Choice = Literal["a", "b", "tie", "both_bad"]
CHOICES: tuple[str, ...] = ("a", "b", "tie", "both_bad")


@dataclass(frozen=True)
class Comparison:
    """One session: its settings and the passages already judged."""

    id: int
    a_spec: str
    b_spec: str
    source: str
    fingerprint: str
    window: int
    length: int
    seed: int
    items: int
    judged: frozenset[int]

    @property
    def finished(self) -> bool:
        return len(self.judged) >= self.items

    def next_item(self) -> int | None:
        """The first passage not judged yet, or None when the session is done."""
        return next((i for i in range(self.items) if i not in self.judged), None)


@dataclass(frozen=True)
class Judgment:
    comparison_id: int
    item: int
    a_first: bool
    choice: str
    passage: str
    text_a: str
    text_b: str


@dataclass(frozen=True)
class ComparisonSummary:
    """Counts over every judgment of A against B, and what they support.

    The win rate is A's share of the decisive judgments (A better or B better); ties and
    "both bad" are counted and shown but carry no preference.
    """

    a_spec: str
    b_spec: str
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int

    @property
    def judgments(self) -> int:
        return self.a_wins + self.b_wins + self.ties + self.both_bad

    @property
    def decisive(self) -> int:
        return self.a_wins + self.b_wins

    @property
    def win_rate(self) -> float | None:
        return self.a_wins / self.decisive if self.decisive else None

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson interval of A's win rate."""
        return wilson_interval(self.a_wins, self.decisive)

    @property
    def decision(self) -> str:
        """ "A is preferred" / "B is preferred" only when the interval excludes 50%."""
        if not self.decisive:
            return "no preference yet: no judgment picked A or B"
        low, high = self.interval
        if high < 0.5:
            return "B is preferred"
        if low > 0.5:
            return "A is preferred"
        return "no clear preference yet: the interval includes 50%; judge more passages"

    def lines(self) -> list[str]:
        """The summary as text lines (CLI and screen)."""
        head = (
            f"A = {self.a_spec}, B = {self.b_spec}: {self.judgments} judgment(s): A better "
            f"{self.a_wins}, B better {self.b_wins}, tie {self.ties}, both bad {self.both_bad}"
        )
        if self.win_rate is None:
            return [head, self.decision]
        low, high = self.interval
        return [
            head,
            f"win rate of A over B: {self.win_rate:.0%} (95% Wilson interval {low:.0%}-"
            f"{high:.0%}, over {self.decisive} decisive judgment(s))",
            self.decision,
        ]


class JudgmentLog:
    """Comparisons and judgments in the drafts database (`DraftStore.judgments`), handed the
    store's core."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def _load(self, conn: object, row: tuple) -> Comparison:
        judged = {
            r[0]
            for r in conn.execute(  # type: ignore[attr-defined]
                "SELECT item FROM judgments WHERE comparison_id = ?", (row[0],)
            )
        }
        return Comparison(*row, judged=frozenset(judged))

    _COLUMNS = "id, a_spec, b_spec, source, fingerprint, window, length, seed, items"

    def get(self, comparison_id: int) -> Comparison:
        with self.core.read() as conn:
            row = conn.execute(
                f"SELECT {self._COLUMNS} FROM comparisons WHERE id = ?", (int(comparison_id),)
            ).fetchone()
            if row is None:
                raise WriterError(f"no comparison with ID {comparison_id}")
            return self._load(conn, row)

    def find_unfinished(
        self, a_spec: str, b_spec: str, fingerprint: str, window: int, length: int
    ) -> Comparison | None:
        """The latest session with these settings that still has passages to judge."""
        with self.core.read() as conn:
            rows = conn.execute(
                f"SELECT {self._COLUMNS} FROM comparisons WHERE a_spec = ? AND b_spec = ? AND "
                "fingerprint = ? AND window = ? AND length = ? ORDER BY id DESC",
                (a_spec, b_spec, fingerprint, int(window), int(length)),
            ).fetchall()
            for row in rows:
                found = self._load(conn, row)
                if not found.finished:
                    return found
        return None

    def start(
        self,
        a_spec: str,
        b_spec: str,
        source: str,
        fingerprint: str,
        window: int,
        length: int,
        seed: int,
        items: int,
    ) -> Comparison:
        """A new session of `items` passages."""
        with self.core.write() as conn:
            cur = conn.execute(
                "INSERT INTO comparisons (created, a_spec, b_spec, source, fingerprint, window, "
                "length, seed, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.core.now(),
                    a_spec,
                    b_spec,
                    source,
                    fingerprint,
                    int(window),
                    int(length),
                    int(seed),
                    int(items),
                ),
            )
            comparison_id = int(cur.lastrowid)
        return self.get(comparison_id)

    def record(self, judgment: Judgment) -> None:
        """Store one judgment (judging a passage again replaces the earlier choice)."""
        if judgment.choice not in CHOICES:
            raise WriterError(f"unknown choice {judgment.choice!r}; use one of {CHOICES}")
        with self.core.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO judgments (comparison_id, item, created, a_first, "
                "choice, passage, text_a, text_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    int(judgment.comparison_id),
                    int(judgment.item),
                    self.core.now(),
                    1 if judgment.a_first else 0,
                    judgment.choice,
                    judgment.passage,
                    judgment.text_a,
                    judgment.text_b,
                ),
            )

    def judgments(self, comparison_id: int) -> list[Judgment]:
        """The session's judgments in passage order."""
        with self.core.read() as conn:
            rows = conn.execute(
                "SELECT comparison_id, item, a_first, choice, passage, text_a, text_b "
                "FROM judgments WHERE comparison_id = ? ORDER BY item",
                (int(comparison_id),),
            ).fetchall()
        return [Judgment(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def decisive(self) -> list[Judgment]:
        """Every judgment that picked A or B (not a tie, not "both bad"), oldest first: the
        preference pairs `writer learn` takes from blind comparisons."""
        with self.core.read() as conn:
            rows = conn.execute(
                "SELECT comparison_id, item, a_first, choice, passage, text_a, text_b "
                "FROM judgments WHERE choice IN ('a', 'b') ORDER BY id"
            ).fetchall()
        return [Judgment(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def summary(self, a_spec: str, b_spec: str) -> ComparisonSummary:
        """Every judgment of A against B, over all sessions and texts."""
        with self.core.read() as conn:
            counts = dict(
                conn.execute(
                    "SELECT j.choice, COUNT(*) FROM judgments j JOIN comparisons c "
                    "ON c.id = j.comparison_id WHERE c.a_spec = ? AND c.b_spec = ? "
                    "GROUP BY j.choice",
                    (a_spec, b_spec),
                ).fetchall()
            )
        return ComparisonSummary(
            a_spec,
            b_spec,
            counts.get("a", 0),
            counts.get("b", 0),
            counts.get("tie", 0),
            counts.get("both_bad", 0),
        )


# The standard normal quantile for a two-sided 95% interval.
Z_95 = 1.959963984540054


def wilson_interval(successes: float, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (default 95%); (0, 1) for no trials.

    Unlike the normal approximation it stays inside [0, 1] and behaves at 0/n and n/n, which
    matters with the few dozen judgments an author makes.
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    denom = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denom
    return max(0.0, center - half), min(1.0, center + half)
