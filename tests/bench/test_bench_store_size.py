"""bench/store_size.py --quick runs end to end (the figures are judged by the full run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_store_size_bench_completes(tmp_path: Path) -> None:
    out = tmp_path / "store_size.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.store_size", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["text_bytes"] > 100_000 and result["saves"] > 10
    assert result["revisions"] >= 2 and result["db_bytes"] > 0
    assert "x the text" in done.stdout
