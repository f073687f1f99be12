"""One candidate as an OpenAI-compatible server streams it: each streamed choice's text, token
ids and log-probabilities added up, the stop rule applied, and the events the Engine yields
(TokenDelta as text becomes safe to show, CandidateDone at its end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from writer.engine.remote.logprobs import kept_records, parse_logprobs
from writer.engine.sampling.stops import find_stop, safe_length
from writer.engine.types import (
    Candidate,
    CandidateDone,
    GenerationEvent,
    TokenDelta,
    TokenLogprobs,
)


@dataclass
class RemoteCandidate:
    """One candidate as the server streams it: its text, tokens and what was shown so far."""

    index: int
    seed: int
    top: int | None = None  # alternatives per token asked for (None: no per-token data)
    text: str = ""
    emitted: int = 0
    logprobs: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # text length after each token
    ids: list[int] = field(default_factory=list)
    records: list[TokenLogprobs] = field(default_factory=list)  # with logprobs=k
    record_ends: list[int] = field(default_factory=list)  # text length after each record
    sent: int = 0  # records handed out in deltas so far
    reason: str | None = None
    mean: float | None = None
    done: Candidate | None = None


def add_choice(
    cand: RemoteCandidate, choice: dict[str, Any], texts: Callable[[list[int]], dict[int, str]]
) -> int:
    """Append a streamed choice's text and token log-probabilities; return its token count.

    `texts` gives the text of token ids (for the alternatives in `logprobs`)."""
    piece = str(choice.get("text") or "")
    start = len(cand.text)
    cand.text += piece
    logprobs = choice.get("logprobs") or {}
    if cand.top is not None and logprobs:
        at = start
        for record in parse_logprobs(logprobs, piece, cand.top, texts):
            at += len(record.text)
            cand.records.append(record)
            cand.record_ends.append(at)
    values = [v for v in (logprobs.get("token_logprobs") or []) if v is not None]
    tokens = logprobs.get("tokens") or []
    count = max(1, len(values)) if choice.get("text") or values else 0
    cand.logprobs.extend(float(v) for v in values)
    for token in tokens:
        if isinstance(token, str) and token.startswith("token_id:"):
            cand.ids.append(int(token[9:]))
    cand.ends.extend([len(cand.text)] * count)
    extra = choice.get("writer")  # writer serve: the candidate's own numbers at its end
    if isinstance(extra, dict):
        cand.mean = extra.get("mean_logprob")
        cand.ids = [int(t) for t in extra.get("token_ids", [])]
        if not cand.records:
            cand.ends = [len(cand.text)] * max(len(cand.ids), len(cand.ends))
    reason = choice.get("finish_reason")
    if reason == "stop":
        # vLLM names the stop text it met in stop_reason; otherwise the end-of-text token.
        cand.reason = "stop" if isinstance(choice.get("stop_reason"), str) else "eos"
    elif reason:
        cand.reason = "length"
    if isinstance(extra, dict) and extra.get("finish_reason"):
        cand.reason = str(extra["finish_reason"])
    return count


def emit_choice(
    cand: RemoteCandidate, choice: dict[str, Any], stop: Any, tidy: Any, count: int
) -> Iterator[GenerationEvent]:
    """A delta for the text now safe to show, or the candidate's end if a stop was met."""
    cut = find_stop(cand.text, stop)
    if cut is not None:
        yield from close_candidate(cand, "stop", stop, tidy, cut)
        return
    safe = safe_length(cand.text, stop)
    if safe > cand.emitted:
        logprob = cand.logprobs[-1] if count == 1 and cand.logprobs else None
        token_id = cand.ids[-1] if count == 1 and cand.ids else None
        end = cand.sent
        while end < len(cand.records) and cand.record_ends[end] <= safe:
            end += 1
        tokens = tuple(cand.records[cand.sent : end])
        cand.sent = end
        yield TokenDelta(cand.index, cand.text[cand.emitted : safe], token_id, logprob, tokens)
        cand.emitted = safe


def close_candidate(
    cand: RemoteCandidate, reason: str, stop: Any, tidy: Any, cut: int | None = None
) -> Iterator[GenerationEvent]:
    """End the candidate at `cut` (its whole text by default): the last delta, then done."""
    cut = len(cand.text) if cut is None else cut
    cand.done = finish_candidate(cand, reason, cut, tidy)
    raw = cand.text[:cut]
    rest = cand.done.token_logprobs[cand.sent :]
    cand.sent += len(rest)
    if len(raw) > cand.emitted or rest:
        yield TokenDelta(cand.index, raw[cand.emitted :], tokens=rest)
        cand.emitted = max(cand.emitted, len(raw))
    yield CandidateDone(cand.index, cand.done)


def finish_candidate(cand: RemoteCandidate, reason: str, cut: int, tidy: Any) -> Candidate:
    """The candidate as a finished Candidate, its text up to `cut` (tidied by `tidy`)."""
    text = cand.text[:cut].rstrip("\ufffd")  # an incomplete character is not kept
    full = cut >= len(cand.text)
    if cand.mean is not None and full:
        kept = len(cand.ids)  # writer serve said which tokens its candidate kept
    else:
        kept = min(sum(1 for end in cand.ends if end <= cut) or len(cand.ends), len(cand.ends))
    records = kept_records(cand.records, len(text), full and cand.mean is not None)
    if records and cand.mean is None:
        kept = len(records)  # the tokens that cover the text, the one cut by a stop too
    values = cand.logprobs[:kept]
    return Candidate(
        tidy(text) if tidy else text,
        kept,
        cand.mean if cand.mean is not None else (sum(values) / len(values) if values else 0.0),
        cand.seed,
        cand.index,
        reason,  # type: ignore[arg-type]
        tuple(cand.ids[:kept]),
        tuple(records),
    )
