"""What an engine is and hands out: the `Engine` contract, candidates, and the events of a
streamed generation.

Plain dataclasses and a Protocol with no torch import, so the UI can name them without loading
torch. Every engine (the local GPT-2 in `generate.py`, the tests' scripted one, a remote server)
satisfies `Engine`; the UI and the CLI depend on this contract only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from writer.engine.story.context import ContextBreakdown, StoryContext
    from writer.presets import SamplingParams

Mode = Literal["continue", "ideas"]
MODES: tuple[str, ...] = ("continue", "ideas")
# Candidates per request: the app offers 1-9 (digit keys), scripts may ask for more.
MAX_CANDIDATES = 16
# Seeds are 0..2**63-1: what SQLite's INTEGER (the generation log) and torch's seeding both hold.
MAX_SEED = 2**63 - 1
# Alternatives recorded per generated token (`logprobs=k`); OpenAI's API allows 20 as well.
MAX_LOGPROBS = 20
DEFAULT_LOGPROBS = 10

# Why a candidate ended: its token budget, a stop rule or text, the end-of-text token, or the
# caller cancelled the request.
FinishReason = Literal["length", "stop", "eos", "cancelled"]


@dataclass(frozen=True)
class TokenChoice:
    """One token that could come next, with its natural-log probabilities.

    `logprob` is under the model (its raw distribution, before any sampling setting);
    `sampled_logprob` under the distribution the sampler actually drew from (after penalties,
    temperature, top-k/top-p/min-p/typical-p; greedy decoding is a point mass on its choice).
    A token the sampler could not pick has `sampled_logprob` == -inf. `text` is the token's own
    text ("\ufffd" where it is only part of a character).
    """

    token_id: int
    text: str
    logprob: float
    sampled_logprob: float


@dataclass(frozen=True)
class TokenLogprobs:
    """One generated token and what the model weighed at its position.

    `text` is this token's share of the candidate's text: the texts of a candidate's tokens add
    up to `Candidate.text` ("continue" mode), so a token that only starts a multi-byte character
    has "" and the one that completes it has the whole character. `top` holds the k most likely
    tokens under the model at this position, most likely first (the chosen one among them when
    it is that likely).
    """

    token_id: int
    text: str
    logprob: float
    sampled_logprob: float
    top: tuple[TokenChoice, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """One proposed continuation (or plot idea).

    `text` is only the new text, never the prompt. `tokens` counts the generated tokens kept,
    `logprob` is their mean log-probability under the model (unmodified by sampling settings),
    and `seed` reproduces this candidate: `writer generate --seed SEED -n 1` with the same model,
    prompt and parameters. `token_logprobs` has one entry per kept token when the request asked
    for them (`logprobs=k`) and the engine supports them; it is empty otherwise.
    """

    text: str
    tokens: int
    logprob: float
    seed: int
    index: int = 0
    finish_reason: FinishReason = "length"
    token_ids: tuple[int, ...] = field(default=(), repr=False, compare=False)
    token_logprobs: tuple[TokenLogprobs, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class GenerationStats:
    """Timings of one request; `reused_tokens` counts prompt tokens served from the prefix cache."""

    prompt_tokens: int
    reused_tokens: int
    new_tokens: int
    first_token_s: float
    total_s: float
    rollbacks: int = 0  # times a candidate backtracked out of a banned phrase

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens over the whole request's wall time."""
        return self.new_tokens / self.total_s if self.total_s > 0 else 0.0


@dataclass(frozen=True)
class TokenDelta:
    """New text for candidate `index` (may be "" while a multi-byte character is incomplete).

    `token_id` and `logprob` describe the last token behind it when the engine knows them (None
    otherwise). With `logprobs=k` requested, `tokens` holds the per-token data of the tokens
    whose text this delta completes (their texts add up to `text`, except the final delta of a
    candidate cut at a stop, whose last token is clipped there); `Candidate.token_logprobs`
    is the authoritative list.
    """

    index: int
    text: str
    token_id: int | None = None
    logprob: float | None = None
    tokens: tuple[TokenLogprobs, ...] = ()


@dataclass(frozen=True)
class CandidateDone:
    """Candidate `index` has finished; no more deltas for it.

    `candidate.text` is the final text: the deltas add up to it in "continue" mode, while an
    "ideas" candidate is tidied at the end (one line, no list marker), so show this text.
    """

    index: int
    candidate: Candidate


@dataclass(frozen=True)
class GenerationDone:
    """The whole request finished (or was cancelled); always the last event."""

    candidates: list[Candidate]
    stats: GenerationStats
    cancelled: bool = False
    seed: int = 0
    prompt_text: str = field(default="", repr=False)
    # The story context's breakdown when one was used.
    context: ContextBreakdown | None = field(default=None, repr=False)


GenerationEvent = TokenDelta | CandidateDone | GenerationDone


# How a caller stops a request: an Event that gets set, or a function that returns True.
CancelSignal = threading.Event | Callable[[], bool] | None


@runtime_checkable
class Engine(Protocol):
    """The contract between writer and anything that proposes text.

    `stream` yields TokenDelta events as text arrives, one CandidateDone per candidate as it
    ends, and GenerationDone last (also when cancelled); candidate i uses seed `seed + i`, and
    a random seed is chosen (and reported in GenerationDone.seed) when `seed` is None. It runs on
    a worker thread and must check `cancel` at least once per token. `generate` returns the
    finished candidates. Errors a user can fix are raised as WriterError with one line. The app
    passes `context` (the draft's memory, note and lorebook) only when the draft has one.

    `logprobs=k` (0 to MAX_LOGPROBS) asks for per-token data on every candidate
    (`Candidate.token_logprobs`, `TokenDelta.tokens`) with k alternatives per token; None (the
    default) records nothing and costs nothing. `next_tokens(text, params, k)` is the next-token
    distribution after `text` (as a continuation prompt): the k most likely tokens under the
    model, most likely first, with their probabilities under `params` too.

    Capabilities let the UI offer only what an engine can do: `supports_logprobs` (candidates
    carry meaningful log-probabilities, `logprobs=k` and `next_tokens` work; an engine without
    them returns no token data and an empty `next_tokens`), `supports_prefix_cache` (a continued
    prompt is cheaper), `max_candidates` (the largest `n`).
    """

    name: str
    device: str
    precision: str
    supports_logprobs: bool
    supports_prefix_cache: bool
    max_candidates: int

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
        logprobs: int | None = None,
    ) -> Iterator[GenerationEvent]: ...

    def generate(
        self,
        prompt: str,
        params: SamplingParams,
        n: int = 3,
        seed: int | None = None,
        mode: str = "continue",
        cancel: CancelSignal = None,
        *,
        logprobs: int | None = None,
    ) -> list[Candidate]: ...

    def next_tokens(
        self, text: str, params: SamplingParams, k: int = DEFAULT_LOGPROBS
    ) -> list[TokenChoice]: ...


def check_request(params: SamplingParams, n: int, seed: int | None, mode: str) -> int:
    """Validate what every engine's `stream` is asked for; return the seed to use (a random
    one when `seed` is None). One place, so the local and remote engines refuse alike."""
    import secrets

    from writer.errors import WriterError
    from writer.presets import SamplingParams

    if mode not in MODES:
        raise WriterError(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
    if not isinstance(n, int) or not 1 <= n <= MAX_CANDIDATES:
        raise WriterError(f"n must be 1 to {MAX_CANDIDATES} candidates; got {n!r}")
    if not isinstance(params, SamplingParams):
        raise TypeError("params must be a SamplingParams")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise WriterError(f"seed must be a whole number from 0 to {MAX_SEED}; got {seed!r}")
    return secrets.randbelow(2**31) if seed is None else seed
