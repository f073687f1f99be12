"""The Engine contract over an OpenAI-compatible completions server (vLLM, llama.cpp,
`writer serve`, ...).

Each request runs on daemon threads that read the server's SSE stream into a queue; `stream`
takes events from the queue a few times per token interval and checks `cancel` between them,
so cancelling returns at once even when a server stalls (the sockets are shut down, which the
server sees as a disconnect and stops generating). The prompt, and the story context, are
assembled here on the client with the model's tokenizer (the server's /tokenize, or an estimate
of CHARS_PER_TOKEN characters a token where the server has none), so budgets work as locally.
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from writer.engine.remote.choices import (
    RemoteCandidate,
    add_choice,
    close_candidate,
    emit_choice,
    finish_candidate,
)
from writer.engine.remote.http import (
    CONNECT_TIMEOUT,
    DEFAULT_CONTEXT,
    EstimateTokenizer,
    Job,
    ServerTokenizer,
    abort_response,
    base_url,
    describe_failure,
    make_client,
    probe_tokenizer,
    read_stream,
    request_fields,
    request_with_retries,
    server_kind,
    status_error,
)
from writer.engine.story import prompts
from writer.engine.story.context import StoryContext, assemble_context
from writer.engine.types import (
    MAX_CANDIDATES,
    CancelSignal,
    Candidate,
    GenerationDone,
    GenerationEvent,
    GenerationStats,
    TokenChoice,
    check_request,
)
from writer.errors import WriterError
from writer.presets import SamplingParams

POLL_S = 0.02  # how often `stream` checks `cancel` while waiting for the server
# Optional request fields a strict server may refuse; dropped (and reported) one at a time.
OPTIONAL_FIELDS = (
    "min_p",
    "typical_p",
    "repetition_penalty",
    "repeat_penalty",
    "repeat_last_n",
    "repetition_range",
    "top_k",
    "dry_multiplier",
    "dry_base",
    "dry_allowed_length",
    "dry_sequence_breakers",
    "dry_penalty_last_n",
    "dry_range",
    "no_repeat_ngram_size",
    "ban",
    "bias",
    "return_tokens_as_token_ids",
    "logprobs",
    "seed",
)


def _is_cancelled(cancel: CancelSignal) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class RemoteEngine:
    """writer.engine.types.Engine over a server's /v1/completions."""

    supports_prefix_cache = False  # the server's own prefix cache, if any, is its business
    # Per-token data from the server's `logprobs` (alternatives: as many as it gives, 5-20).
    supports_token_logprobs = True
    max_candidates = MAX_CANDIDATES
    precision = "server"

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        """Connect to the server at `url`, pick the model (the only one it serves when `model`
        is None) and find its tokenizer. Unreachable server, wrong key, unknown model: a
        WriterError with one line."""
        self.url = base_url(url)
        self.client = make_client(url, api_key)
        self.notice = notice or (lambda text: print(f"writer: note: {text}", file=sys.stderr))
        entry = self._pick_model(model)
        self.name = str(entry["id"])
        self.kind = server_kind(str(entry.get("owned_by", "")))
        # llama-cpp-python's server ("me") cuts a streaming request short when another one
        # arrives (its interrupt_requests) and ignores n: its candidates go one at a time.
        self._one_at_a_time = str(entry.get("owned_by", "")) == "me"
        self.device = "server"
        self.context_size = self._context_size(entry)
        found = probe_tokenizer(self.client, self.name)  # (len() of it may be 0: not `or`)
        self.tokenizer: Any = EstimateTokenizer() if found is None else found
        self.supports_logprobs = True
        self._split_n = False
        self._dropped: set[str] = set()
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    # -- connecting -------------------------------------------------------------------------------
    def _pick_model(self, model: str | None) -> dict[str, Any]:
        response = request_with_retries(self.client, "GET", "/v1/models")
        if response.status_code != 200:
            raise status_error(self.url, response)
        try:
            entries = [e for e in response.json()["data"] if isinstance(e, dict) and "id" in e]
        except (ValueError, KeyError, TypeError):
            raise WriterError(
                f"{self.url} is not an OpenAI-compatible server (no model list at /v1/models); "
                "check the --engine URL"
            ) from None
        names = [str(e["id"]) for e in entries]
        if model is None:
            if len(entries) == 1:
                return entries[0]
            raise WriterError(
                f"the server at {self.url} serves {len(entries)} models "
                f"({', '.join(names) or 'none'}); pick one with --model"
            )
        for entry in entries:
            if entry["id"] == model:
                return entry
        raise WriterError(
            f"the server at {self.url} has no model {model!r}; it serves: "
            f"{', '.join(names) or 'none'} (see --model)"
        )

    def _context_size(self, entry: dict[str, Any]) -> int:
        for value in (entry.get("max_model_len"), (entry.get("meta") or {}).get("n_ctx_train")):
            if isinstance(value, int) and value > 1:
                return value
        try:  # llama.cpp's server says its slot size in /props
            response = self.client.get("/props", timeout=CONNECT_TIMEOUT)
            n_ctx = response.json()["default_generation_settings"]["n_ctx"]
            if isinstance(n_ctx, int) and n_ctx > 1:
                return n_ctx
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
        return DEFAULT_CONTEXT

    def close(self) -> None:
        self.client.close()

    # -- requests ---------------------------------------------------------------------------------
    def generate(
        self,
        prompt: str,
        params: SamplingParams,
        n: int = 3,
        seed: int | None = None,
        mode: str = "continue",
        cancel: CancelSignal = None,
        **kwargs: Any,
    ) -> list[Candidate]:
        done = None
        for event in self.stream(prompt, params, n, seed, mode, cancel, **kwargs):
            if isinstance(event, GenerationDone):
                done = event
        assert done is not None
        return done.candidates

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        n: int = 3,
        seed: int | None = None,
        mode: str = "continue",
        cancel: CancelSignal = None,
        *,
        context: StoryContext | None = None,
        prompt_ids: list[int] | None = None,
        logprobs: int | None = None,
    ) -> Iterator[GenerationEvent]:
        """As the local Engine.stream: deltas as the server sends them, CandidateDone per
        candidate, GenerationDone last (also when cancelled).

        With `logprobs=k` the server is asked for k alternatives per token and the candidates
        carry per-token data as a local engine's do (`TokenDelta.tokens`,
        `Candidate.token_logprobs`): exact from `writer serve`; from vLLM and llama.cpp the one
        log-probability they report per token (vLLM: the model's; llama.cpp: after sampling)
        and no sampling-distribution value (NaN)."""
        if logprobs is not None and (
            isinstance(logprobs, bool) or not isinstance(logprobs, int) or not 0 <= logprobs <= 20
        ):
            raise WriterError(f"logprobs must be 0 to 20 alternatives; got {logprobs!r}")
        seed = check_request(params, n, seed, mode)
        return self._run(prompt, params, n, seed, mode, cancel, context, prompt_ids, logprobs)

    def next_tokens(self, text: str, params: SamplingParams, k: int = 10) -> list[TokenChoice]:
        """The server's k likeliest next tokens after `text`: the alternatives of a one-token
        completion (as many as the server gives, k at most)."""
        one = params.replace(max_new_tokens=1, stop="none")
        candidates = self.generate(text, one, n=1, seed=0, logprobs=k)
        tokens = candidates[0].token_logprobs if candidates else ()
        return list(tokens[0].top[:k]) if tokens else []

    def _texts(self, ids: list[int]) -> dict[int, str]:
        if isinstance(self.tokenizer, ServerTokenizer):
            return self.tokenizer.texts(ids)
        return {}

    def _prompt(
        self,
        prompt: str,
        mode: str,
        max_new: int,
        context: StoryContext | None,
        prompt_ids: list[int] | None,
    ) -> tuple[list[int], Any]:
        if prompt_ids is not None:
            return list(prompt_ids), None
        if context is not None:
            built = assemble_context(
                self.tokenizer, prompt, context, self.context_size, max_new, mode=mode
            )
            return built.ids, built.breakdown
        return prompts.build_prompt(
            self.tokenizer, prompt, mode, self.context_size, max_new
        ).ids, None

    def _body(
        self, ids: list[int], params: SamplingParams, max_new: int, stop: Any, top: int
    ) -> dict[str, Any]:
        fields, unapplied = request_fields(params, self.kind, max_new)
        # An unknown server may apply more than the standard fields: say so, not "ignores".
        self._report(unapplied, "may ignore" if self.kind == "other" else "ignores")
        # llama-cpp-python's server (its tokenizer under /extras) takes text prompts only.
        if self.tokenizer.exact and getattr(self.tokenizer, "prefix", "") != "/extras":
            payload: Any = ids
        else:
            payload = self.tokenizer.decode(ids) or "<|endoftext|>"
        body: dict[str, Any] = {
            "model": self.name,
            "prompt": payload,
            "stream": True,
            "logprobs": max(1, top),
            **fields,
        }
        if self.kind in ("vllm", "writer"):
            body["return_tokens_as_token_ids"] = True
        if isinstance(stop, tuple):
            body["stop"] = list(stop)
        elif self.kind == "writer" and stop != "none":
            body["stop_rule"] = stop  # writer serve cuts sentences and paragraphs as locally
        for name in self._dropped:
            body.pop(name, None)
        return body

    def _report(self, names: list[str], verb: str) -> None:
        with self._lock:
            new = [name for name in names if name not in self._reported]
            self._reported.update(new)
        if new:
            self.notice(
                f"the server at {self.url} ({self.kind}) {verb} {', '.join(new)}; "
                "candidates are sampled without " + ("it" if len(new) == 1 else "them")
            )

    def _run(
        self,
        prompt: str,
        params: SamplingParams,
        n: int,
        seed: int,
        mode: str,
        cancel: CancelSignal,
        context: StoryContext | None,
        prompt_ids: list[int] | None,
        top: int | None = None,
    ) -> Iterator[GenerationEvent]:
        start = time.perf_counter()
        max_new = min(params.max_new_tokens, self.context_size - 1)
        ids, breakdown = self._prompt(prompt, mode, max_new, context, prompt_ids)
        max_new = max(1, min(max_new, self.context_size - len(ids)))
        stop = "sentence" if mode == "ideas" else params.stop
        tidy = prompts.clean_idea if mode == "ideas" else None
        rows_n = 1 if params.greedy else n  # greedy candidates are all the same
        cands = [RemoteCandidate(i, seed + i, top) for i in range(rows_n)]
        body = self._body(ids, params, max_new, stop, top or 0)
        events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        jobs: list[Job] = []
        live: set[int] = set()

        waiting: list[int] = []  # single-candidate requests not sent yet (one at a time)

        def launch(first: int, count: int) -> None:
            if count == 1 and self._one_at_a_time and live:
                waiting.append(first)
                return
            job_body = {**body, "n": count, "seed": seed + first}
            if "seed" in self._dropped:
                job_body.pop("seed")
            job = Job(first, count, job_body)
            jobs.append(job)
            live.add(id(job))
            threading.Thread(
                target=read_stream, args=(self.client, job, events), daemon=True
            ).start()

        def ended(job: Job) -> None:
            live.discard(id(job))
            if waiting and not live:
                launch(waiting.pop(0), 1)

        if rows_n > 1 and (self._split_n or self.kind == "llamacpp"):
            for i in range(rows_n):
                launch(i, 1)
        else:
            launch(0, rows_n)
        first_token_s = 0.0
        new_tokens = 0
        cancelled = False
        try:
            while live or waiting:
                if _is_cancelled(cancel):
                    cancelled = True
                    break
                try:
                    item = events.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                what, job = item[0], item[1]
                if what == "choice":
                    cand = cands[job.first + item[2]] if job.first + item[2] < rows_n else None
                    job.seen.add(item[2])
                    if cand is None or cand.done is not None:
                        continue
                    if not new_tokens:
                        first_token_s = time.perf_counter() - start
                    added = add_choice(cand, item[3], self._texts)
                    new_tokens += added
                    yield from emit_choice(cand, item[3], stop, tidy, added)
                    if all(c.done is not None for c in cands[job.first : job.first + job.n]):
                        # Every candidate of this request ended here (a stop rule, or the
                        # server said so): stop the server generating for it.
                        job.aborted = True
                        abort_response(job.response)
                        ended(job)
                elif what == "end":
                    ended(job)
                    missing = [i for i in range(job.n) if i not in job.seen]
                    if job.n > 1 and missing and len(missing) < job.n:
                        # The server ignored n: the rest as requests of their own.
                        self._split_n = True
                        self._report(["n>1 (sending one request per candidate)"], "ignores")
                        for i in missing:
                            launch(job.first + i, 1)
                        continue
                    for i in range(job.first, job.first + job.n):
                        cand = cands[i]
                        if cand.done is None and i < rows_n:
                            yield from close_candidate(cand, cand.reason or "length", stop, tidy)
                elif what == "status":
                    live.discard(id(job))
                    status, reason = item[2], item[3]
                    retry = self._refused(job, status, reason)
                    if retry == "split":
                        for i in range(job.first, job.first + job.n):
                            launch(i, 1)
                    elif retry is not None:
                        body.pop(retry, None)
                        launch(job.first, job.n)
                    else:
                        raise status_error(self.url, item[4], self.name)
                elif what == "fail":
                    live.discard(id(job))
                    kept = 0
                    for cand in cands:
                        if cand.done is None and cand.text:
                            kept += 1
                            yield from close_candidate(cand, "cancelled", stop, tidy)
                    error = describe_failure(self.url, item[2])
                    if kept or new_tokens:
                        error = WriterError(
                            f"the server at {self.url} stopped mid-generation "
                            f"({type(item[2]).__name__}); the {kept} partial candidate(s) "
                            "so far are kept"
                        )
                    raise error
        finally:
            for job in jobs:
                job.aborted = True
                abort_response(job.response)
        for cand in cands:
            if cand.done is None:
                cand.done = finish_candidate(cand, "cancelled", len(cand.text), tidy)
        candidates = [c.done for c in cands if c.done is not None]
        if params.greedy and n > 1:
            first = candidates[0]
            candidates = [dataclasses.replace(first, seed=seed, index=i) for i in range(n)]
        stats = GenerationStats(
            prompt_tokens=len(ids),
            reused_tokens=0,
            new_tokens=new_tokens,
            first_token_s=first_token_s,
            total_s=time.perf_counter() - start,
        )
        yield GenerationDone(candidates, stats, cancelled, seed, prompt, breakdown)

    def _refused(self, job: Job, status: int, reason: str) -> str | None:
        """What to retry after a refused request: "split" (n>1 refused), a field to drop, or
        None (a real error)."""
        if status != 400:
            return None
        lowered = reason.lower()
        if job.n > 1 and ("'n'" in lowered or " n " in f" {lowered} " or "choice" in lowered):
            self._split_n = True
            self._report(["n>1 (sending one request per candidate)"], "refuses")
            return "split"
        for name in OPTIONAL_FIELDS:
            if name in job.body and name in lowered and name not in self._dropped:
                self._dropped.add(name)
                self._report([name], "refuses")
                return name
        return None
