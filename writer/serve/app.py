"""`writer serve`: writer's engine behind the OpenAI completions API subset that vLLM and
llama.cpp serve (/v1/completions with n, streaming, logprobs and seed; /v1/models; /tokenize and
/detokenize as vLLM has them), on Starlette.

Completions in flight share the engine's decode steps (writer.serve.scheduler: a bounded
queue over writer.engine.batching); past the queue's bound a request gets 503 and Retry-After.
Waiting requests start fairly across clients (the client with the fewest running goes first), so
one client's queue cannot starve another's. Parsing and tokenizing run on worker threads, never
on the event loop. A client that disconnects cancels its generation: its cancel event is set,
which the engine checks every token. Parameters are validated by SamplingParams, as the CLI's
are; errors are OpenAI-style JSON.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from writer.engine.types import (
    MAX_CANDIDATES,
    MAX_LOGPROBS,
    MAX_SEED,
    CandidateDone,
    GenerationDone,
    TokenDelta,
)
from writer.errors import WriterError
from writer.serve.limits import BODY_TIMEOUT_S
from writer.serve.protocol import (
    MAX_BODY,
    MAX_TOKENIZE_CHARS,
    BadRequest,
    check_int,
    client_key,
    error,
    parse_body,
    parse_params,
    public_model_name,
)
from writer.serve.scheduler import (
    DEFAULT_MAX_RUNNING,
    DEFAULT_MAX_WAITING,
    QueueFull,
    RequestQueue,
    min_tokens_of,
)


class Server:
    """The ASGI app around one loaded engine."""

    def __init__(
        self,
        engine: Any,
        model_name: str,
        api_key: str | None = None,
        *,
        max_running: int = DEFAULT_MAX_RUNNING,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self.engine = engine
        self.queue = RequestQueue(engine, max_running=max_running, max_waiting=max_waiting)
        self.model_name = public_model_name(model_name)
        self.aliases = {None, self.model_name, model_name}  # requests may name it either way
        self.api_key = api_key
        self.texts: dict[int, str] = {}  # each token id's own text, decoded once
        # For /health: requests waiting or running, and generations cut short by a client.
        self.waiting = 0
        self.finished = 0
        self.cancelled = 0
        self.app = Starlette(
            routes=[
                Route("/health", self.health),
                Route("/v1/models", self.models),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/tokenize", self.tokenize, methods=["POST"]),
                Route("/detokenize", self.detokenize, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.api_key and scope["path"] != "/health":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            expected = f"Bearer {self.api_key}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                response = error(401, "missing or wrong API key", "authentication_error")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    # -- small endpoints ------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "requests": self.waiting,
                "finished": self.finished,
                "cancelled": self.cancelled,
                "queue": self.queue.stats(),
            }
        )

    async def models(self, request: Request) -> Response:
        entry = {
            "id": self.model_name,
            "object": "model",
            "created": 0,
            "owned_by": "writer",
            "max_model_len": self.engine.context_size,
        }
        return JSONResponse({"object": "list", "data": [entry]})

    async def _json(self, request: Request) -> dict[str, Any]:
        raw = b""
        try:
            async with asyncio.timeout(BODY_TIMEOUT_S):  # a body trickled in is cut off
                async for part in request.stream():  # at most MAX_BODY bytes, whatever it claims
                    raw += part
                    if len(raw) > MAX_BODY:
                        raise BadRequest(f"the request is over {MAX_BODY // 2**20} MB", None, 413)
        except TimeoutError:
            raise BadRequest(
                f"the request body took over {BODY_TIMEOUT_S:g} s", None, 408
            ) from None
        body = await run_in_threadpool(parse_body, raw)
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, (str, type(None))) or model not in self.aliases:
            raise BadRequest(
                f"the model {model!r} does not exist; this server serves {self.model_name!r}",
                "model",
                404,
            )
        return body

    async def tokenize(self, request: Request) -> Response:
        try:
            body = await self._json(request)
            text = body.get("prompt", body.get("content"))
            if not isinstance(text, str):
                raise BadRequest('"prompt" must be a text', "prompt")
            if len(text) > MAX_TOKENIZE_CHARS:
                raise BadRequest(
                    f'"prompt" is over {MAX_TOKENIZE_CHARS:,} characters', "prompt", 413
                )
        except BadRequest as exc:
            return error(exc.status, str(exc), param=exc.param)
        ids = await run_in_threadpool(self._token_ids, text)
        return JSONResponse(
            {"tokens": list(ids), "count": len(ids), "max_model_len": self.engine.context_size}
        )

    def _token_ids(self, text: str) -> list[int]:
        """On a worker thread; with a tokenizer that lets other threads run meanwhile (a
        transformers fast tokenizer does by itself), so the event loop keeps answering."""
        tokenizer = self.engine.tokenizer
        encode_long = getattr(tokenizer, "encode_long", None)
        if encode_long is not None:
            return encode_long(text)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    async def detokenize(self, request: Request) -> Response:
        try:
            body = await self._json(request)
            ids = body.get("tokens")
            vocab = len(self.engine.tokenizer)
            if not isinstance(ids, list) or not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t < vocab for t in ids
            ):
                raise BadRequest(f'"tokens" must be a list of token ids 0 to {vocab - 1}', "tokens")
        except BadRequest as exc:
            return error(exc.status, str(exc), param=exc.param)
        text = self.engine.tokenizer.decode(
            ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        return JSONResponse({"prompt": text, "content": text})

    # -- completions ----------------------------------------------------------------------------
    def _prompt(self, body: dict[str, Any]) -> tuple[str, list[int] | None]:
        prompt = body.get("prompt", "")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, str):
            return prompt, None
        vocab = len(self.engine.tokenizer)
        window = self.engine.context_size
        if (
            isinstance(prompt, list)
            and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)
            and all(0 <= t < vocab for t in prompt)
        ):
            if not 1 <= len(prompt) < window:
                raise BadRequest(f"prompt must be 1 to {window - 1} tokens; got {len(prompt)}")
            return "", list(prompt)
        raise BadRequest(
            f"prompt must be a text or a list of token ids 0 to {vocab - 1} (one prompt per "
            "request)",
            "prompt",
        )

    async def completions(self, request: Request) -> Response:
        try:
            body = await self._json(request)
            if body.get("echo"):
                raise BadRequest("echo is not supported", "echo")
            prompt, ids = self._prompt(body)
            params = parse_params(body)
            n = check_int(body, "n", 1, 1, MAX_CANDIDATES)
            seed = check_int(body, "seed", None, 0, MAX_SEED)
            top = check_int(body, "logprobs", None, 0, MAX_LOGPROBS)
            try:
                least = min_tokens_of(body, params.max_new_tokens)
            except ValueError as exc:
                raise BadRequest(str(exc), str(exc).split()[0]) from None
        except BadRequest as exc:
            return error(exc.status, str(exc), param=exc.param)
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        job = _Generation(self, prompt, ids, params, n, seed, top, as_ids)
        try:
            job.submit(least, client_key(request))
        except QueueFull as exc:
            response = error(503, str(exc), "server_busy")
            response.headers["Retry-After"] = str(self.queue.retry_after())
            return response
        except WriterError as exc:
            return error(400, str(exc))
        if body.get("stream"):
            return StreamingResponse(job.sse(), media_type="text/event-stream")
        return await job.whole(request)


class _Generation:
    """One request: queued on the server's scheduler; its events reach the event loop as they
    come."""

    def __init__(self, server: Server, prompt: str, ids: Any, params: Any, n, seed, top, as_ids):
        self.server = server
        self.prompt, self.ids, self.params = prompt, ids, params
        self.n, self.seed, self.top, self.as_ids = n, seed, top, as_ids
        self.cancel = threading.Event()
        self.offsets: dict[int, int] = {}  # characters streamed so far, per candidate
        self.id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def submit(self, min_tokens: int, client: str) -> None:
        """Queue the request (QueueFull, or WriterError for a bad one, raise here)."""
        self.stream = self.server.queue.submit(
            self.prompt,
            self.params,
            self.n,
            seed=self.seed,
            cancel=self.cancel,
            prompt_ids=self.ids,
            logprobs=self.top,
            min_tokens=min_tokens,
            client=client,
        )

    async def events(self) -> AsyncIterator[Any]:
        server = self.server
        server.waiting += 1
        complete = False
        try:
            async for event in self.stream:
                if isinstance(event, GenerationDone):
                    complete = not event.cancelled
                yield event
        finally:
            self.cancel.set()  # a client gone mid-stream stops its generation
            server.waiting -= 1
            if complete:
                server.finished += 1
            else:
                server.cancelled += 1

    def _label(self, token_id: int) -> str:
        """A token as OpenAI's `tokens` and `top_logprobs` name it: its text, or
        "token_id:N" when the request asked for ids (vLLM's return_tokens_as_token_ids)."""
        if self.as_ids:
            return f"token_id:{token_id}"
        texts = self.server.texts
        if token_id not in texts:
            texts[token_id] = self.server.engine.tokenizer.decode(
                [token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False
            )
        return texts[token_id]

    def _logprobs(self, delta: TokenDelta) -> dict[str, Any] | None:
        if self.top is None:
            return None
        start = self.offsets.get(delta.index, 0)
        self.offsets[delta.index] = start + len(delta.text)
        return self._logprobs_of(delta.tokens, start)

    def _logprobs_of(self, tokens: Any, start: int) -> dict[str, Any] | None:
        """OpenAI's completions `logprobs` for the tokens this delta completes, with writer's
        own numbers under "writer" (ids, sampling-distribution log-probabilities, and the top
        alternatives as [id, logprob, sampled_logprob], null for -inf), so writer's remote
        engine rebuilds exactly the per-token data of a local engine."""
        if self.top is None:
            return None
        labels, values, tops, offsets = [], [], [], []
        ids, sampled, alternatives = [], [], []
        at = start
        for tok in tokens:
            labels.append(self._label(tok.token_id))
            values.append(_finite(tok.logprob))
            tops.append({self._label(c.token_id): _finite(c.logprob) for c in tok.top})
            offsets.append(at)
            at += len(tok.text)
            ids.append(tok.token_id)
            sampled.append(_finite(tok.sampled_logprob))
            alternatives.append(
                [[c.token_id, _finite(c.logprob), _finite(c.sampled_logprob)] for c in tok.top]
            )
        return {
            "tokens": labels,
            "token_logprobs": values,
            "top_logprobs": tops,
            "text_offset": offsets,
            "writer": {"token_ids": ids, "sampled_logprobs": sampled, "top": alternatives},
        }

    def _chunk(self, choices: list[dict[str, Any]]) -> str:
        data = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.server.model_name,
            "choices": choices,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    @staticmethod
    def _finish_reason(reason: str) -> str:
        return "length" if reason in ("length", "cancelled") else "stop"

    def _final(self, done: CandidateDone) -> dict[str, Any]:
        cand = done.candidate
        return {
            "index": done.index,
            "text": "",
            "logprobs": None,
            "finish_reason": self._finish_reason(cand.finish_reason),
            "writer": {
                "mean_logprob": cand.logprob,
                "token_ids": list(cand.token_ids),
                "seed": cand.seed,
                "finish_reason": cand.finish_reason,
            },
        }

    async def sse(self) -> AsyncIterator[str]:
        sent: set[int] = set()
        async for event in self.events():
            if isinstance(event, Exception):
                message = str(event) if isinstance(event, WriterError) else repr(event)
                err = {"error": {"message": message, "type": "server_error"}}
                yield f"data: {json.dumps(err)}\n\n"
                return
            if isinstance(event, TokenDelta) and (
                event.text or (self.top is not None and event.tokens)
            ):
                choice = {"index": event.index, "text": event.text, "finish_reason": None}
                choice["logprobs"] = self._logprobs(event)
                yield self._chunk([choice])
            elif isinstance(event, CandidateDone):
                sent.add(event.index)
                yield self._chunk([self._final(event)])
            elif isinstance(event, GenerationDone):
                for cand in event.candidates:  # greedy copies: never streamed on their own
                    if cand.index not in sent:
                        if cand.text:
                            lp = self._logprobs_of(cand.token_logprobs, 0)
                            chunk = {"index": cand.index, "text": cand.text, "logprobs": lp}
                            yield self._chunk([chunk])
                        yield self._chunk([self._final(CandidateDone(cand.index, cand))])
        yield "data: [DONE]\n\n"

    async def whole(self, request: Request) -> Response:
        done: GenerationDone | None = None
        stream = self.events()
        waiter = asyncio.ensure_future(_last(stream))
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=0.1)
            if not waiter.done() and await request.is_disconnected():
                self.cancel.set()
        result = waiter.result()
        if isinstance(result, Exception):
            return error(500, str(result), "server_error")
        done = result
        assert done is not None
        choices = []
        for cand in done.candidates:
            choices.append(
                {
                    "index": cand.index,
                    "text": cand.text,
                    "logprobs": self._logprobs_of(cand.token_logprobs, 0),
                    "finish_reason": self._finish_reason(cand.finish_reason),
                    "writer": {"mean_logprob": cand.logprob, "seed": cand.seed},
                }
            )
        completion = sum(c.tokens for c in done.candidates)
        return JSONResponse(
            {
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.server.model_name,
                "choices": choices,
                "usage": {
                    "prompt_tokens": done.stats.prompt_tokens,
                    "completion_tokens": completion,
                    "total_tokens": done.stats.prompt_tokens + completion,
                },
            }
        )


def _finite(x: float) -> float | None:
    """JSON has no infinities: a token sampling could not pick (-inf) is null."""
    return x if x > float("-inf") else None


async def _last(events: AsyncIterator[Any]) -> Any:
    last = None
    async for event in events:
        if isinstance(event, Exception):
            return event
        last = event
    return last
