"""Throughput of an OpenAI-compatible completions server under concurrent clients.

    python -m bench.serve_load --model gpt2                   # starts `writer serve` itself
    python -m bench.serve_load --url http://127.0.0.1:8080     # any server (llama.cpp, vLLM)
    python -m bench.serve_load --compare                       # 8 clients against 1 in a row

CLIENTS threads each send completions back to back (non-streaming, `n` candidates,
MAX_TOKENS tokens, seeded) until REQUESTS have finished; it reports requests/s and generated
tokens/s (the servers' own `usage.completion_tokens`) over the whole run, and the median and
95th-percentile request latency. With --compare, the same server runs the REQUESTS first from
one client in a row, then from CLIENTS at once, then IDLE single requests on an idle server
(the latency one author's request sees), and reports the concurrent/one-client ratio of
tokens/s. Run it on a quiet machine: other load skews every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from itertools import count

import httpx

PROMPTS = (
    "The old woman in the village told stories about the forest, and",
    "She opened the door and saw the lighthouse keeper standing in the rain.",
    "The ship sailed north for three days. On the fourth day",
    "It was cold and quiet, and nobody spoke. The detective",
)


def start_server(model: str, threads: int | None) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    if threads:
        env["WRITER_THREADS"] = str(threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "writer", "serve", "--model", model, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "serving" in line:
            return proc, line.split(" at ", 1)[1].split("/v1", 1)[0]
    raise SystemExit("writer serve did not start")


def run(url: str, clients: int, requests: int, max_tokens: int, n: int, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    model = httpx.get(f"{url}/v1/models", headers=headers, trust_env=False).json()["data"][0]
    tickets = count()
    latencies: list[float] = []
    tokens = [0]
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=600, trust_env=False) as http:
            while (i := next(tickets)) < requests:
                body = {
                    "model": model["id"],
                    "prompt": PROMPTS[i % len(PROMPTS)],
                    "max_tokens": max_tokens,
                    "n": n,
                    "seed": i,
                    "temperature": 0.8,
                }
                start = time.perf_counter()
                r = http.post("/v1/completions", json=body)
                elapsed = time.perf_counter() - start
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                        continue
                    latencies.append(elapsed)
                    tokens[0] += r.json()["usage"]["completion_tokens"]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    done = len(latencies)
    ordered = sorted(latencies) or [0.0]
    return {
        "server": url,
        "model": model["id"],
        "owned_by": model.get("owned_by"),
        "clients": clients,
        "requests": done,
        "errors": len(errors),
        "n": n,
        "max_tokens": max_tokens,
        "wall_s": round(wall, 2),
        "requests_per_s": round(done / wall, 3),
        "tokens_per_s": round(tokens[0] / wall, 1),
        "latency_median_s": round(statistics.median(ordered), 3),
        # Nearest rank: the smallest latency at or above 95% of the requests.
        "latency_p95_s": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 3),
        "first_error": errors[0] if errors else None,
    }


def compare(url: str, args: argparse.Namespace, key: str | None) -> dict:
    """One client in a row, then `args.clients` at once, then single requests when idle."""
    one = run(url, 1, args.requests, args.max_tokens, args.n, key)
    many = run(url, args.clients, args.requests, args.max_tokens, args.n, key)
    idle = run(url, 1, args.idle, args.max_tokens, args.n, key)
    return {
        "one_client": one,
        "concurrent": many,
        "idle_single": {k: idle[k] for k in ("requests", "latency_median_s", "latency_p95_s")},
        "tokens_per_s_ratio": round(many["tokens_per_s"] / max(one["tokens_per_s"], 1e-9), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running server (default: start writer serve)")
    parser.add_argument("--model", default="gpt2", help="model for writer serve (default gpt2)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("-n", type=int, default=1, help="candidates per request")
    parser.add_argument("--threads", type=int, help="WRITER_THREADS for the started server")
    parser.add_argument("--compare", action="store_true", help="8 clients vs 1 in a row, idle")
    parser.add_argument("--idle", type=int, default=16, help="--compare: idle single requests")
    args = parser.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args.model, args.threads)
    base = url.rstrip("/").removesuffix("/v1")
    key = os.environ.get("WRITER_API_KEY")
    try:
        if args.compare:
            result = compare(base, args, key)
        else:
            result = run(base, args.clients, args.requests, args.max_tokens, args.n, key)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
