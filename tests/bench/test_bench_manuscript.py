"""bench/manuscript.py --quick drives the real app under a pty end to end (no timing judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_manuscript_bench_completes(tmp_path: Path) -> None:
    out = tmp_path / "manuscript.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.manuscript",
            "--quick",
            "--timeout",
            "60",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(out.read_text())["results"]
    assert result["size"] == "100KB" and result["bytes"] > 100_000
    assert result["first_paint_s"] is not None  # the manuscript's end was painted
    assert result["echo_ms"]["n"] > 0
    assert result["paste_bracketed"]["shown_s"] is not None
    assert result["paste_bracketed"]["saved_s"] is not None
    # A raw paste right after the bracketed one: the view stopped short of its end (the
    # editor scrolled to the cursor before re-measuring the wrapped text after each burst).
    assert result["paste_raw"]["shown_s"] is not None
    assert result["paste_raw"]["saved_s"] is not None
    assert "| 100KB |" in done.stdout


def test_each_paste_is_known_by_a_last_word_no_other_text_holds() -> None:
    # The raw paste followed the bracketed one, whose last word was still on screen: with one
    # marker for both, the raw paste counted as shown at once.
    from bench.manuscript import END_MARKER, PASTE_MARKERS, TYPED, WORDS, manuscript

    words = {*WORDS, END_MARKER, TYPED}
    for marker in PASTE_MARKERS.values():
        others = [m for m in PASTE_MARKERS.values() if m != marker]
        assert not any(marker in other for other in [*others, *words])
        assert marker not in manuscript(20_000)
