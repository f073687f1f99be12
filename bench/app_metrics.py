"""App metrics (issue 5, point 4): first paint, model ready time, resident memory.

First paint: the wall time from spawning the process until the app's first frame reaches the
terminal, for `writer FILE --model DIR` and for a bare Textual app showing one Static, each in
a fresh process under a pseudo-terminal (80x24), alternated, medians of `--repeat` runs. "First
frame" means the marker text (the story in FILE; the Static's text) appears in the output once
escape sequences are stripped; Textual writes a frame's rows left to right, so the marker is
contiguous then. The app's "model ready" time is read the same way: the status bar's model
state turns to "ready".

Model ready: a fresh process imports writer.engine and runs `load_engine` on the saved GPT-2
small (the disk cache is warmed by an untimed first run); reported from process start (what an
author waits) and for `load_engine` alone. RSS: that process's resident memory after the load
and after one W1-shaped request (4 x 64 on a 512-token story).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

MARKER = "benchmarkmarkerzq"
BARE_APP = f"""
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static({MARKER!r})

Bare().run()
"""
LOAD_SCRIPT = """
import json, sys, time
start = time.perf_counter()
import psutil
from writer.engine import load_engine
from writer.presets import SamplingParams
imported = time.perf_counter()
engine = load_engine(sys.argv[1], device="cpu")
loaded = time.perf_counter()
rss_loaded = psutil.Process().memory_info().rss
print("READY", flush=True)
story = " ".join(["the old fox walked to the river and looked at the water."] * 40)
params = SamplingParams(temperature=0.8, top_k=50, top_p=1.0, repetition_penalty=1.0,
                        no_repeat_ngram_size=0, max_new_tokens=64, stop="none")
engine.generate(story, params, n=4, seed=1)
rss_after = psutil.Process().memory_info().rss
print(json.dumps({"import_s": imported - start, "load_engine_s": loaded - imported,
                  "rss_loaded": rss_loaded, "rss_after_request": rss_after,
                  "precision": engine.precision}))
"""
# CSI/OSC/other escape sequences, removed before looking for the marker.
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def time_until_text(
    cmd: list[str], markers: list[str], env: dict[str, str], timeout: float = 60.0
) -> dict[str, float | None]:
    """Spawn `cmd` under an 80x24 pty; seconds until each marker first appears on screen."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    found: dict[str, float | None] = {m: None for m in markers}
    raw = b""
    try:
        while None in found.values() and time.perf_counter() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                raw += os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            text = ANSI.sub(b"", raw).decode("utf-8", "replace")
            now = time.perf_counter() - start
            for m in markers:
                if found[m] is None and m in text:
                    found[m] = now
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        os.close(master)
    return found


def _time_load(model_dir: Path, env: dict[str, str]) -> dict[str, float] | None:
    """Run LOAD_SCRIPT; its timings plus `process_s`, spawn to the READY line (model loaded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", LOAD_SCRIPT, str(model_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = None
    for line in proc.stdout:
        if line.strip() == "READY":
            ready = time.perf_counter() - start
        elif line.startswith("{"):
            data = json.loads(line)
    proc.wait(300)
    if proc.returncode != 0 or ready is None:
        assert proc.stderr is not None
        print(f"bench: model load failed: {proc.stderr.read()[-500:]}", file=sys.stderr)
        return None
    data["process_s"] = ready
    return data


def main(model_dir: Path, args: argparse.Namespace) -> int:
    """Measure and print the app metrics as Markdown (and --json)."""
    repeat = max(2, args.repeat)
    with tempfile.TemporaryDirectory(prefix="writer-bench-app-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": "80",
            "LINES": "24",
            "HF_HUB_OFFLINE": "1",
        }
        for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            env[name] = str(root / name.lower())  # keep the author's real data out of it
        story = root / "story.txt"
        story.write_text(f"{MARKER} the fox walked to the river.\n", encoding="utf-8")
        bare = root / "bare.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        writer_cmd = [sys.executable, "-m", "writer", str(story), "--model", str(model_dir)]
        bare_cmd = [sys.executable, str(bare)]
        # Warm the disk cache (python, textual, torch, the weights) without timing.
        time_until_text(bare_cmd, [MARKER], env)
        time_until_text(writer_cmd, [MARKER, "ready"], env)
        paint_writer, paint_bare, app_ready = [], [], []
        for _ in range(repeat):
            b = time_until_text(bare_cmd, [MARKER], env)[MARKER]
            w = time_until_text(writer_cmd, [MARKER, "ready"], env)
            if b is not None:
                paint_bare.append(b)
            if w[MARKER] is not None:
                paint_writer.append(w[MARKER])
            if w["ready"] is not None:
                app_ready.append(w["ready"])
        load = None
        subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT, str(model_dir)],
            env=env,
            capture_output=True,
            timeout=300,
        )  # warm
        loads = []
        for _ in range(repeat):
            data = _time_load(model_dir, env)
            if data is None:
                break
            loads.append(data)
        if loads:
            load = {k: statistics.median(d[k] for d in loads) for k in loads[0]}
    result = _report(model_dir, paint_writer, paint_bare, app_ready, load, repeat)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _report(
    model_dir: Path,
    paint_writer: list[float],
    paint_bare: list[float],
    app_ready: list[float],
    load: dict[str, float] | None,
    repeat: int,
) -> dict[str, Any]:
    from bench.report import machine_note
    from writer.engine.loading import default_threads

    machine = machine_note(default_threads())
    w, b, r = _med(paint_writer), _med(paint_bare), _med(app_ready)
    mb = 1024 * 1024
    lines = [
        "# writer app metrics",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}; "
        f"model {model_dir.name}; medians of {repeat} runs.",
        "",
        "| metric | value | target |",
        "|---|---|---|",
    ]

    def fmt(v: float | None, unit: str = "s") -> str:
        return "n/a" if v is None else f"{v:.2f} {unit}"

    ratio = w / b if w and b else None
    lines += [
        f"| first paint, writer | {fmt(w)} | <= 1.5 s |",
        f"| first paint, bare Textual app | {fmt(b)} | |",
        f"| first paint ratio writer/bare | {fmt(ratio, 'x')} | <= 2.5x |",
        f"| model ready in the app (status 'ready') | {fmt(r)} | |",
    ]
    checks = [
        _check(w is not None and w <= 1.5, f"first paint {fmt(w)} (<= 1.5 s)"),
        _check(
            ratio is not None and ratio <= 2.5,
            f"first paint {fmt(ratio, 'x')} of a bare Textual app (<= 2.5x)",
        ),
    ]
    if load:
        lines += [
            f"| process start to engine ready | {fmt(load['process_s'])} | <= 3 s |",
            "| import writer.engine (torch; transformers comes with the first request) "
            f"| {fmt(load['import_s'])} | |",
            f"| load_engine alone | {fmt(load['load_engine_s'])} | |",
            f"| RSS, model loaded ({load.get('precision', '?')}) "
            f"| {load['rss_loaded'] / mb:.0f} MB | |",
            f"| RSS, after one 4 x 64 request | {load['rss_after_request'] / mb:.0f} MB "
            "| <= 0.6 GB (issue 13, default precision) |",
        ]
        checks += [
            _check(
                load["process_s"] <= 3.0,
                f"GPT-2 ready {fmt(load['process_s'])} from process start (<= 3 s)",
            ),
            _check(
                load["rss_after_request"] <= 0.6 * 1024 * mb,
                f"RSS {load['rss_after_request'] / mb:.0f} MB with the model loaded (<= 0.6 GB)",
            ),
        ]
    lines += ["", "```", *checks, "```"]
    print("\n".join(lines))
    return {
        "machine": machine,
        "first_paint_writer_s": paint_writer,
        "first_paint_bare_s": paint_bare,
        "app_model_ready_s": app_ready,
        "load": load,
        "checks": checks,
    }


def _check(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"
