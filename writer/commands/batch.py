"""`writer generate --prompts`: a batch, N requests in flight, results written as they finish.

Each result line carries the prompt's `index` (its position among the file's prompts, from 0),
so order can be recovered; with `--resume` the prompts already in the output file are skipped,
so a 100,000-line job survives interruption (a torn last line is cut off first). A local engine
decodes the requests in flight together (writer.engine.batching: their rows share each decode
step); a server (vLLM, `writer serve`) batches the ones in flight itself.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from writer.errors import WriterError

MAX_CONCURRENCY = 256
# A local engine's requests in flight by default: enough rows per step for the weights to be
# read once for many tokens, few enough that a request's own latency stays near its alone one.
LOCAL_CONCURRENCY = 8


def default_concurrency(given: int | None, remote: bool) -> int:
    """--concurrency as given, else 8 for a local engine and 1 for a server."""
    if given is not None:
        return given
    return 1 if remote else LOCAL_CONCURRENCY


@contextmanager
def batching(engine: Any, concurrency: int) -> Iterator[Any]:
    """`engine` with its requests decoded together (a local engine, `concurrency` > 1), or
    as it is (a remote engine batches on its server; one request needs no scheduler)."""
    if concurrency <= 1 or not hasattr(engine, "steps"):
        yield engine
        return
    from writer.engine.batching import BatchedEngine

    batched = BatchedEngine(engine, max_running=concurrency)
    try:
        yield batched
    finally:
        batched.close()


def finished_indexes(path: str, prompts: list[str]) -> set[int]:
    """Indexes of the prompts whose results `path` already holds; a partly written last line
    is cut off. Results written for another prompts file are an error, not silently mixed."""
    target = Path(path)
    if not target.exists():
        return set()
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise WriterError(f"cannot read output file {path} to resume: {exc.strerror}") from None
    end = data.rfind(b"\n") + 1
    if end < len(data):  # interrupted mid-line: drop the torn tail before appending
        with open(target, "r+b") as fh:
            fh.truncate(end)
    done: set[int] = set()
    for number, line in enumerate(data[:end].decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            index = item["index"]
        except (ValueError, KeyError, TypeError):
            raise WriterError(
                f"output file {path} line {number} is not a writer result; resume into the "
                "file a batch wrote, or pick a new -o file"
            ) from None
        if (
            not isinstance(index, int)
            or not 0 <= index < len(prompts)
            or (item.get("prompt") != prompts[index])
        ):
            raise WriterError(
                f"output file {path} line {number} is a result for another prompts file; "
                "resume with the same --prompts file, or pick a new -o file"
            )
        done.add(index)
    return done


class _Meter:
    """Prompts and tokens finished, for the progress line."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.prompts = 0
        self.tokens = 0

    def add(self, tokens: int) -> None:
        self.prompts += 1
        self.tokens += tokens

    def rates(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        return (
            f"{self.prompts / elapsed:.2f} prompts/s, {self.tokens / elapsed:.1f} tokens/s "
            f"in {elapsed:.1f}s"
        )


def run_batch(
    run_one: Callable[[int, threading.Event], dict[str, Any]],
    todo: list[int],
    total: int,
    write: Callable[[dict[str, Any]], None],
    concurrency: int,
) -> _Meter:
    """Run `run_one(index, cancel)` for every index in `todo`, `concurrency` at a time, and
    `write` each result as it finishes. On the first failure the rest are cancelled and the
    error says how far the batch got."""
    meter = _Meter()
    cancel = threading.Event()
    pending = iter(todo)
    bar = _progress(total, total - len(todo))
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="writer-batch")
    in_flight: set[Future[dict[str, Any]]] = set()
    try:
        for index in pending:
            in_flight.add(executor.submit(run_one, index, cancel))
            if len(in_flight) >= concurrency:
                break
        while in_flight:
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()  # a failure ends the batch (below)
                write(result)
                meter.add(result.pop("_tokens", 0))
                bar(meter)
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight.add(executor.submit(run_one, nxt, cancel))
    except BaseException as exc:
        cancel.set()
        for future in in_flight:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)
        bar(None)
        if isinstance(exc, WriterError):
            done = total - len(todo) + meter.prompts
            raise WriterError(
                f"{exc} ({done}/{total} prompts written; rerun with --resume to go on)"
            ) from None
        raise
    executor.shutdown(wait=True)
    bar(None)
    return meter


def _progress(total: int, already: int) -> Callable[[_Meter | None], None]:
    """A progress bar with throughput on a terminal (None closes it); nothing in a pipe."""
    if not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return lambda meter: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        "{task.fields[rates]}",
        console=Console(stderr=True),
        transient=True,  # gone when the batch ends or fails: an error stays one line
    )
    progress.start()
    task = progress.add_task("generating", total=total, completed=already, rates="")

    def update(meter: _Meter | None) -> None:
        if meter is None:
            progress.stop()
        else:
            progress.update(task, advance=1, rates=meter.rates())

    return update


def write_line(out: IO[str], result: dict[str, Any]) -> None:
    out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
