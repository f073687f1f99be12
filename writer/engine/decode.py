"""The decode loop of one request: n candidates in one batched pass, streamed, cancellable.

The Engine (writer.engine.generate) builds the prompt and the processors; this loop runs them.

The loop, one step per token (nanoGPT's `generate`, batched over candidates):
 1. the prompt is prefilled once (only its new tokens if the engine saw its prefix before);
    all candidates start from that single copy of its keys and values;
 2. the next-token logits of every live candidate go through transformers' logits processors
    (phrase bias, repetition penalty, DRY, temperature, top-k, top-p, min-p, typical-p), exactly
    as `model.generate` applies them, after the tokens banned at this position are masked;
 3. each candidate draws its token from its own seeded generator (argmax when greedy); a token
    that completes a banned phrase is not kept: the candidate goes back to the token where the
    phrase began, bans it there, and its next step re-runs from that position (its KV rows
    are rewound; the other candidates carry on, so rows may differ in length);
 4. each candidate's text is decoded and checked against the stop rule; finished candidates
    leave the batch, so the rest run faster;
 5. the new tokens run through the model to give the next logits.
Events are yielded between 3 and 5, so the first token reaches the caller before more work,
and cancellation (checked every step) takes effect within one token.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Container, Generator, Iterator
from typing import TYPE_CHECKING, Any

import torch

from writer.engine.sampling.stops import find_stop, safe_length
from writer.engine.sampling.tokenprobs import (
    StepRecord,
    TokenTexts,
    pieces,
    record_step,
    token_logprobs,
)
from writer.engine.story import prompts
from writer.engine.types import (
    CancelSignal,
    Candidate,
    CandidateDone,
    GenerationDone,
    GenerationEvent,
    GenerationStats,
    TokenDelta,
    TokenLogprobs,
)
from writer.presets import SamplingParams

if TYPE_CHECKING:
    from transformers import LogitsProcessorList

    from writer.engine.sampling.tokentable import TokenTable


def forget_records(row: Row, position: int) -> None:
    """A rolled-back row loses its tokens from `position` on, and their records with them."""
    if row.records is not None:
        del row.records[position:], row.offsets[position:]
        row.sent = min(row.sent, position)


def is_cancelled(cancel: CancelSignal) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class Row:
    """Book-keeping for one candidate while it is generated."""

    def __init__(self, index: int, seed: int, recording: bool = False) -> None:
        self.index = index
        self.seed = seed
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        # With `logprobs=k`: each token's record, where its text ends, tokens streamed so far.
        self.records: list[StepRecord] | None = [] if recording else None
        self.offsets: list[int] = []
        self.sent = 0
        self.text = ""
        self.emitted = 0
        self.done: Candidate | None = None
        # Phrase bans: tokens banned per position, the text's lower-case bytes and each token's
        # end offset in them, rollbacks so far and whether backtracking gave way to masking.
        self.bans: dict[int, set[int]] = {}
        self.lower = b""
        self.ends: list[int] = []
        self.rollbacks = 0
        self.discarded = 0
        self.guard = False


@dataclasses.dataclass
class Step:
    """What `DecodeLoop.run` yields where it needs the model: feed `tokens` (one per active
    row) to `session` and send the next-token logits [rows, vocab] back into the generator.
    `drive` does that at once; a batching scheduler (writer.engine.batching) first gathers
    the steps of every request in flight and runs them as one."""

    session: Any
    tokens: torch.Tensor


Yielded = GenerationEvent | Step | None


def drive(steps: Generator[Yielded, Any, None]) -> Iterator[GenerationEvent]:
    """One request alone: run its steps as they come and pass its events on."""
    reply: Any = None
    while True:
        try:
            item = steps.send(reply)
        except StopIteration:
            return
        if isinstance(item, Step):
            reply = item.session.step(item.tokens)
        else:
            reply = None
            if item is not None:
                yield item


class DecodeLoop:
    """Runs requests on a back end (writer.engine.gpt2.backends): rows, bans, stops, events.

    The Engine makes one per request; `run` is a generator of events and of the model steps it
    needs (`Step`): `drive` runs one request alone, writer.engine.batching many together.
    `piece` (tokens): compute the prompt that many tokens at a time, yielding None between
    pieces (0: in one go).
    """

    def __init__(
        self,
        backend: Any,
        tokenizer: Any,
        eos_token_id: int,
        texts: TokenTexts,
        device: str,
        piece: int = 0,
    ) -> None:
        self.piece = piece
        self.backend = backend
        self.tokenizer = tokenizer
        self.eos_token_id = eos_token_id
        self.device = device
        self._texts = texts

    def run(
        self,
        prompt: str,
        built: prompts.Prompt,
        breakdown: Any,
        max_new: int,
        params: SamplingParams,
        n: int,
        seed: int,
        mode: str,
        cancel: CancelSignal,
        logprobs: int | None,
        make_processors: Callable[[int], tuple[LogitsProcessorList, TokenTable | None]],
        start: float,
    ) -> Generator[Yielded, Any, None]:
        """Decode `built` (the request's prompt ids, `max_new` tokens at most) into n candidates,
        yielding events; `make_processors(vocab)` gives the logits processors and the token
        table, `start` is when the request began (perf_counter, for its stats)."""
        stop = "sentence" if mode == "ideas" else params.stop
        # An idea streams as generated; its final text is tidied to one clean line.
        tidy = prompts.clean_idea if mode == "ideas" else None
        # Greedy candidates are all the same: compute one and copy it.
        rows_n = 1 if params.greedy else n
        rows = [Row(i, seed + i, logprobs is not None) for i in range(rows_n)]
        generators = []
        for row in rows:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(row.seed)
            generators.append(gen)

        begin_in_pieces = getattr(self.backend, "begin_in_pieces", None)
        if self.piece and begin_in_pieces is not None:
            session = yield from begin_in_pieces(built.ids, rows_n, max_new, self.piece)
        else:
            session = self.backend.begin(built.ids, rows_n, max_new)
        vocab = session.first_logits.shape[-1]
        processors, table = make_processors(vocab)
        from writer.engine.sampling.phrases import BanMatcher, BanTracker
        from writer.engine.sampling.processors import apply_processors, choose_tokens

        bans = None
        if params.ban and table is not None:
            bans = BanTracker(BanMatcher(table, params.ban), table, built.ids, max_new)
            if not hasattr(session, "rewind"):
                for row in rows:  # no backtracking here: mask completing tokens instead
                    row.guard = True
        p = len(built.ids)
        # Every row's prompt + generated ids; a row's own length says how much is live.
        history = torch.empty((rows_n, p + max_new), dtype=torch.long, device=self.device)
        history[:, :p] = torch.tensor(built.ids, dtype=torch.long, device=self.device)
        logits = session.first_logits.unsqueeze(0).expand(rows_n, -1)
        active = list(range(rows_n))  # indices into `rows`, in batch order
        first_token_s = 0.0
        new_tokens = 0
        cancelled = False
        while active:
            lengths = [len(rows[r].ids) for r in active]
            masked = bans.mask(logits, [rows[r] for r in active]) if bans else logits
            scores = apply_processors(processors, history, p, lengths, masked)
            tokens = choose_tokens(scores, params.greedy, [generators[r] for r in active])
            model_lp = torch.log_softmax(logits, dim=-1)
            chosen_lp = model_lp.gather(1, tokens[:, None])[:, 0]
            records = None
            if logprobs is not None:  # one top-k on this step's logits; nothing when not asked
                records = record_step(model_lp, scores, tokens, logprobs, params.greedy)
            if not new_tokens:
                first_token_s = time.perf_counter() - start
            new_tokens += len(active)
            chosen = tokens.tolist()
            # Rows that completed a banned phrase: rolled back to this position.
            rollback: dict[int, int] = {}
            if bans is not None:
                for b, r in enumerate(active):
                    if chosen[b] != self.eos_token_id:
                        position = bans.check(rows[r], chosen[b])
                        if position is not None:
                            rollback[b] = position
                            rows[r].text = self.decode(rows[r].ids)
                            forget_records(rows[r], position)
            events, finished = self.advance(
                rows,
                active,
                chosen,
                chosen_lp.tolist(),
                stop,
                max_new,
                tidy,
                skip=rollback,
                hold=bans.safe_chars if bans else None,
                records=records,
            )
            yield from events
            if is_cancelled(cancel):
                cancelled = True
                break
            feed = list(chosen)
            restart = []  # rows rolled back to their first token: the prompt's logits again
            for b, position in rollback.items():
                row = rows[active[b]]
                if position == 0:
                    session.rewind(b, 0)
                    feed[b] = self.eos_token_id  # a placeholder, forgotten after the step
                    restart.append(b)
                else:
                    session.rewind(b, position - 1)
                    feed[b] = row.ids[position - 1]
            if not rollback and len(set(lengths)) == 1:
                history[:, p + lengths[0]] = tokens  # every row took its token (the usual case)
            else:
                for b, r in enumerate(active):
                    if b not in rollback and rows[r].done is None:
                        history[b, p + len(rows[r].ids) - 1] = chosen[b]
            if finished:
                keep = [i for i, r in enumerate(active) if r not in finished]
                if not keep:
                    break
                index = torch.tensor(keep, device=self.device)
                session.keep(index)
                history = history[index]
                feed = [feed[i] for i in keep]
                restart = [keep.index(b) for b in restart if b in keep]
                active = [active[i] for i in keep]
            feed_ids = torch.tensor(feed, dtype=torch.long, device=self.device)
            logits = yield Step(session, feed_ids)  # run by `drive`, or batched by a scheduler
            if restart:
                logits = logits.clone()
                for b in restart:
                    session.rewind(b, 0)
                    logits[b] = session.first_logits

        candidates = []
        for row in rows:
            if row.done is None:  # only when cancelled
                row.done = self.finish(row, "cancelled", len(row.text))
                if tidy is not None:
                    row.done = dataclasses.replace(row.done, text=tidy(row.done.text))
            candidates.append(row.done)
        if params.greedy and n > 1:
            first = candidates[0]
            candidates = [dataclasses.replace(first, seed=seed, index=i) for i in range(n)]
        stats = GenerationStats(
            prompt_tokens=len(built.ids),
            reused_tokens=session.reused,
            new_tokens=new_tokens,
            first_token_s=first_token_s,
            total_s=time.perf_counter() - start,
            rollbacks=sum(row.rollbacks for row in rows),
        )
        yield GenerationDone(candidates, stats, cancelled, seed, prompt, breakdown)

    def advance(
        self,
        rows: list[Row],
        active: list[int],
        tokens: list[int],
        logprobs: list[float],
        stop: str | tuple[str, ...],
        max_new: int,
        tidy: Callable[[str], str] | None = None,
        skip: Container[int] = (),
        hold: Callable[[Row, Callable[[list[int]], str]], int] | None = None,
        records: list[StepRecord] | None = None,
    ) -> tuple[list[GenerationEvent], set[int]]:
        """Add one token to each active row; return the events and the rows that finished.

        Rows at batch positions in `skip` were rolled back this step and take no token; `hold`
        gives how much of a row's text may be shown (a banned phrase may still roll it back).
        """
        events: list[GenerationEvent] = []
        finished: set[int] = set()
        for b, (r, token, logprob) in enumerate(zip(active, tokens, logprobs, strict=True)):
            row = rows[r]
            if b in skip:
                continue
            reason = None
            cut = None
            if token == self.eos_token_id:
                reason, cut = "eos", len(row.text)
            else:
                row.ids.append(token)
                row.logprobs.append(logprob)
                row.text = self.decode(row.ids)
                if row.records is not None and records is not None:
                    row.records.append(records[b])
                    row.offsets.append(len(row.text.rstrip("\ufffd")))
                cut = find_stop(row.text, stop)
                if cut is not None:
                    reason = "stop"
                elif len(row.ids) >= max_new:
                    reason, cut = "length", len(row.text)
            if reason is None:
                safe = safe_length(row.text, stop)
                if hold is not None:
                    safe = min(safe, hold(row, self.decode))
                if safe > row.emitted:
                    piece = row.text[row.emitted : safe]
                    shown = self.streamed_tokens(row, safe)
                    events.append(TokenDelta(row.index, piece, token, logprob, shown))
                    row.emitted = safe
                continue
            row.done = self.finish(row, reason, cut)
            rest = row.done.token_logprobs[row.sent :]
            if len(row.done.text) > row.emitted or rest:
                piece = row.done.text[row.emitted :]
                events.append(TokenDelta(row.index, piece, token, logprob, rest))
                row.emitted = max(row.emitted, len(row.done.text))
            if tidy is not None:
                row.done = dataclasses.replace(row.done, text=tidy(row.done.text))
            events.append(CandidateDone(row.index, row.done))
            finished.add(r)
        return events, finished

    def finish(self, row: Row, reason: str, cut: int) -> Candidate:
        """The row as a finished Candidate: its text up to `cut`, the tokens that cover it."""
        text = row.text[:cut].rstrip("\ufffd")
        kept = self.tokens_covering(row.ids, len(text)) if cut < len(row.text) else len(row.ids)
        logprob = sum(row.logprobs[:kept]) / kept if kept else 0.0
        infos: tuple[TokenLogprobs, ...] = ()
        if row.records is not None:
            shares = pieces(text, row.offsets, 0, kept)
            infos = tuple(
                token_logprobs(rec, share, self._texts)
                for rec, share in zip(row.records[:kept], shares, strict=True)
            )
        return Candidate(
            text,
            kept,
            logprob,
            row.seed,
            row.index,
            reason,
            tuple(row.ids[:kept]),  # type: ignore[arg-type]
            infos,
        )

    def streamed_tokens(self, row: Row, shown: int) -> tuple[TokenLogprobs, ...]:
        """The recorded tokens whose text now lies within the first `shown` characters."""
        if row.records is None:
            return ()
        end = row.sent
        while end < len(row.offsets) and row.offsets[end] <= shown:
            end += 1
        shares = pieces(row.text, row.offsets, row.sent, end)
        out = tuple(
            token_logprobs(row.records[i], share, self._texts)
            for i, share in zip(range(row.sent, end), shares, strict=True)
        )
        row.sent = end
        return out

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`, exactly as the tokenizer gives it (special tokens kept)."""
        return self.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def tokens_covering(self, ids: list[int], length: int) -> int:
        """The fewest leading tokens whose decoded text reaches `length` characters."""
        for k in range(1, len(ids) + 1):
            text = self.tokenizer.decode(
                ids[:k], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
            if len(text) >= length:
                return k
        return len(ids)
