"""Talking to an OpenAI-compatible completions server: the HTTP client, the server's tokenizer,
and writer's SamplingParams as the request fields servers accept.

No torch and no Textual: the remote engine (remote.py) runs in a CLI or the app's worker thread.
Servers known by what /v1/models says they are ("owned_by"): writer's own (`writer serve`),
vLLM and llama.cpp (its server and llama-cpp-python's); others get the standard fields plus
the extensions vLLM and llama.cpp share, and a note that non-standard ones may be ignored.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from writer.errors import WriterError
from writer.presets import SamplingParams

# The API key is read from this variable only, never from a file writer writes.
API_KEY_ENV = "WRITER_API_KEY"
# Without a tokenize endpoint, a token is estimated as this many characters (English prose
# averages ~4 characters per GPT-2 token; the estimate only decides how much story to send).
CHARS_PER_TOKEN = 4
# A server that does not say its context window is assumed to have GPT-2's.
DEFAULT_CONTEXT = 1024
# Seconds: connecting, and waiting for the next streamed token (a stalled server).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = float(os.environ.get("WRITER_REMOTE_TIMEOUT", "120"))
RETRIES = 3  # attempts for requests that are safe to repeat (nothing generated yet)

# Which fields each kind of server applies (beyond prompt/n/max_tokens/stream/logprobs/seed).
_ALL = {
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "typical_p",
    "repetition_penalty",
    "repetition_range",
    "no_repeat_ngram_size",
    "dry",
    "ban",
    "bias",
    "stop",
}
SUPPORTED: dict[str, set[str]] = {
    "writer": _ALL,
    "vllm": {"temperature", "top_p", "top_k", "min_p", "repetition_penalty", "stop"},
    "llamacpp": {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "typical_p",
        "repetition_penalty",
        "repetition_range",
        "dry",
        "stop",
    },
    "other": {"temperature", "top_p", "stop"},
}


def server_kind(owned_by: str) -> str:
    owner = owned_by.lower().replace(".", "").replace("-", "").replace("_", "")
    if owner == "writer":
        return "writer"
    if "vllm" in owner:
        return "vllm"
    if "llamacpp" in owner or owner == "me":  # llama-cpp-python says "me"
        return "llamacpp"
    return "other"


def base_url(url: str) -> str:
    """`http://host:port` from an --engine URL (a trailing /v1 or / is dropped)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WriterError(
            f"--engine must be an http:// or https:// URL such as http://127.0.0.1:8000; "
            f"got {url!r}"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def make_client(url: str, api_key: str | None) -> httpx.Client:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    # trust_env=False: no proxy from the environment between writer and its own server.
    return httpx.Client(base_url=base_url(url), headers=headers, timeout=timeout, trust_env=False)


def error_message(response: httpx.Response) -> str:
    """The server's own one-line reason from an error response (OpenAI or llama.cpp shape)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip().splitlines() or [response.reason_phrase])[0][:300]
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        text = err.get("message") or err.get("detail") or str(err)
    else:
        text = str(body.get("detail", err)) if isinstance(body, dict) else str(err)
    return (str(text).strip().splitlines() or [""])[0][:300]


def describe_failure(where: str, exc: Exception) -> WriterError:
    """A transport failure as one line that names the fix."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return WriterError(
            f"cannot reach the server at {where} ({exc or 'connection refused'}); "
            "check that it runs and the --engine URL"
        )
    if isinstance(exc, httpx.ReadTimeout):
        return WriterError(
            f"the server at {where} sent nothing for {READ_TIMEOUT:g}s; it may be overloaded "
            f"(WRITER_REMOTE_TIMEOUT sets the wait)"
        )
    return WriterError(f"the connection to {where} failed: {type(exc).__name__}: {exc}")


def status_error(where: str, response: httpx.Response, model: str = "") -> WriterError:
    reason = error_message(response)
    if response.status_code in (401, 403):
        return WriterError(
            f"the server at {where} refused the API key ({reason}); set {API_KEY_ENV} "
            "to the key it was started with"
        )
    if response.status_code == 404 and model and "model" in reason.lower():
        return WriterError(f"the server at {where} has no model {model!r} ({reason}); see --model")
    return WriterError(
        f"the server at {where} refused the request ({response.status_code}): {reason}"
    )


def request_with_retries(
    client: httpx.Client, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """A short request (not a generation), retried with backoff on connection failures and
    503s: repeating it is safe."""
    delay = 0.25
    for attempt in range(RETRIES):
        try:
            response = client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
            if attempt == RETRIES - 1:
                raise describe_failure(str(client.base_url), exc) from None
        except httpx.HTTPError as exc:
            raise describe_failure(str(client.base_url), exc) from None
        else:
            if response.status_code not in (502, 503) or attempt == RETRIES - 1:
                return response
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (how byte-level BPE spells tokens)."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs), strict=True))


_UNICODE_OF = _bytes_to_unicode()


class ServerTokenizer:
    """The model's tokenizer through the server's /tokenize and /detokenize (vLLM, llama.cpp
    and `writer serve` all have them), shaped like a Hugging Face tokenizer for writer's
    prompt and story-context code."""

    exact = True

    def __init__(self, client: httpx.Client, model: str, prefix: str = "") -> None:
        self.client = client
        self.model = model
        self.prefix = prefix  # "/extras" on llama-cpp-python's server
        self.eos_token_id: int | None = None
        self._pieces: dict[int, str] = {}
        self._texts: dict[int, str] = {}
        self._nul_id: int | None = None
        ids = self._encode("<|endoftext|>")
        if len(ids) == 1:
            self.eos_token_id = ids[0]
            self.all_special_ids = [ids[0]]

    # The story context finds line starts in token spellings (writer.engine.sampling.phrases'
    # TokenTable): the spellings of every id seen, fetched in one /detokenize per encode (ids
    # separated by the end-of-text token), in GPT-2's byte-level alphabet.
    def __len__(self) -> int:
        return max(self._pieces, default=-1) + 1

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self._pieces.get(i, "") for i in ids]

    def _learn(self, ids: list[int]) -> None:
        new = [i for i in ids if i not in self._pieces]
        for i, text in self.texts(new).items():
            self._pieces[i] = "".join(_UNICODE_OF[b] for b in text.encode("utf-8"))

    def texts(self, ids: list[int]) -> dict[int, str]:
        """Each id's own text (what a local engine shows for a token), remembered; the unknown
        ones fetched in one /detokenize, separated by the end-of-text token (or, where the
        server leaves special tokens out of text as llama.cpp does, by a NUL character), else
        one by one."""
        eos = self.eos_token_id
        new = sorted({i for i in ids if i not in self._texts and i != eos})
        for sep, sep_text in ((eos, "<|endoftext|>"), (self._nul(), "\x00")):
            if not new or sep is None:
                continue
            joined = [t for i in new for t in (i, sep)]
            parts = self.decode(joined).split(sep_text)
            if len(parts) == len(new) + 1:
                self._texts.update(zip(new, parts, strict=False))
                new = []
        for i in new[:64]:  # no separator worked: one request each (a few at most)
            self._texts[i] = self.decode([i])
        if eos is not None:
            self._texts[eos] = "<|endoftext|>"
        return {i: self._texts[i] for i in ids if i in self._texts}

    def _nul(self) -> int | None:
        if self._nul_id is None:
            ids = self._encode("\x00")
            self._nul_id = ids[0] if len(ids) == 1 else -1
        return self._nul_id if self._nul_id >= 0 else None

    def encode(self, text: str) -> list[int]:
        ids = self._encode(text)
        self._learn(ids)
        return ids

    def _encode(self, text: str) -> list[int]:
        body = {"model": self.model, "prompt": text, "content": text, "input": text}
        body["add_special_tokens"] = False
        response = request_with_retries(self.client, "POST", self.prefix + "/tokenize", json=body)
        if response.status_code != 200:
            raise status_error(str(self.client.base_url), response, self.model)
        tokens = response.json().get("tokens", [])
        # llama.cpp with pieces gives [{"id":..,"piece":..}]
        return [t["id"] if isinstance(t, dict) else int(t) for t in tokens]

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text) if text else []}

    def decode(self, ids: list[int], **_: Any) -> str:
        if not ids:
            return ""
        body = {"model": self.model, "tokens": list(ids)}
        path = self.prefix + "/detokenize"
        response = request_with_retries(self.client, "POST", path, json=body)
        if response.status_code != 200:
            raise status_error(str(self.client.base_url), response, self.model)
        data = response.json()
        return str(data.get("prompt", data.get("content", data.get("text", ""))))


def probe_tokenizer(client: httpx.Client, model: str) -> ServerTokenizer | None:
    """The server's tokenizer if it has /tokenize and /detokenize (or llama-cpp-python's
    /extras/tokenize), else None."""
    for prefix in ("", "/extras"):
        try:
            tokenizer = ServerTokenizer(client, model, prefix)
            if tokenizer.decode(tokenizer.encode("Once upon")) == "Once upon":
                return tokenizer
        except (WriterError, ValueError, KeyError, TypeError):
            continue
    return None


class EstimateTokenizer:
    """A stand-in tokenizer: every CHARS_PER_TOKEN characters count as one token. Ids index
    the chunks seen, so decode gives the text back; prompts are then sent as text."""

    exact = False
    eos_token_id = 0

    def __init__(self) -> None:
        self._chunks: list[str] = ["<|endoftext|>"]
        self._ids: dict[str, int] = {"<|endoftext|>": 0}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        ids = []
        for start in range(0, len(text), CHARS_PER_TOKEN):
            chunk = text[start : start + CHARS_PER_TOKEN]
            if chunk not in self._ids:
                self._ids[chunk] = len(self._chunks)
                self._chunks.append(chunk)
            ids.append(self._ids[chunk])
        return {"input_ids": ids}

    def decode(self, ids: list[int], **_: Any) -> str:
        return "".join(self._chunks[i] for i in ids if i != 0)

    all_special_ids = (0,)

    def __len__(self) -> int:
        return len(self._chunks)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return ["".join(_UNICODE_OF[b] for b in self._chunks[i].encode()) for i in ids]


def request_fields(
    params: SamplingParams, kind: str, max_tokens: int
) -> tuple[dict[str, Any], list[str]]:
    """The request body's sampling fields for a server of `kind`, and the names of writer's
    settings (set away from their defaults) that it does not apply."""
    supported = SUPPORTED.get(kind, SUPPORTED["other"])
    fields: dict[str, Any] = {
        "max_tokens": max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        # 0 means off in writer; -1 is "all tokens" in vLLM and llama.cpp alike.
        # llama-cpp-python refuses -1, and llama.cpp reads 0 as off too.
        "top_k": params.top_k if params.top_k > 0 else (0 if kind == "llamacpp" else -1),
        "min_p": params.min_p,
        "repetition_penalty": params.repetition_penalty,
        "repeat_penalty": params.repetition_penalty,  # llama.cpp's name
    }
    if params.typical_p < 1.0:
        fields["typical_p"] = params.typical_p
    if params.repetition_range:
        fields["repeat_last_n"] = params.repetition_range
        fields["repetition_range"] = params.repetition_range
    if params.dry_multiplier > 0:
        fields.update(
            dry_multiplier=params.dry_multiplier,
            dry_base=params.dry_base,
            dry_allowed_length=params.dry_allowed_length,
            dry_sequence_breakers=list(params.dry_sequence_breakers),
            dry_penalty_last_n=params.dry_range or -1,
            dry_range=params.dry_range,
        )
    if kind == "writer":  # writer's own server takes every setting by its own name
        fields.update(
            {k: v for k, v in params.to_dict().items() if k not in ("max_new_tokens", "stop")}
        )
        fields.pop("repeat_penalty", None)
        fields.pop("dry_penalty_last_n", None)
    unapplied = []
    checks = {
        "top_k": params.top_k > 0,
        "min_p": params.min_p > 0,
        "typical_p": params.typical_p < 1.0,
        "repetition_penalty": params.repetition_penalty != 1.0,
        "repetition_range": params.repetition_range > 0,
        "no_repeat_ngram_size": params.no_repeat_ngram_size > 0,
        "dry": params.dry_multiplier > 0,
        "ban": bool(params.ban),
        "bias": bool(params.bias),
    }
    for name, used in checks.items():
        if used and name not in supported:
            unapplied.append("dry_multiplier" if name == "dry" else name)
    return fields, unapplied


def error_message_of(chunk: dict[str, Any]) -> str:
    err = chunk.get("error")
    if isinstance(err, dict):
        return str(err.get("message", err))
    return str(err)


def abort_response(response: httpx.Response | None) -> None:
    """Shut the socket under a streaming response down, from any thread: a read blocked on it
    returns at once and the server sees the client leave."""
    if response is None:
        return
    try:
        sock = response.extensions["network_stream"].get_extra_info("socket")
        sock.shutdown(socket.SHUT_RDWR)
    except (KeyError, AttributeError, OSError):
        pass


@dataclass
class Job:
    """One HTTP request: candidates `first` .. `first + n - 1`."""

    first: int
    n: int
    body: dict[str, Any]
    response: httpx.Response | None = None
    aborted: bool = False
    seen: set[int] = field(default_factory=set)


def read_stream(client: httpx.Client, job: Job, events: queue.Queue[tuple[Any, ...]]) -> None:
    """Thread: one request's SSE stream into `events` as ("choice", job, index, choice),
    then ("end", job); or ("status", job, code, reason, response), or ("fail", job, exc).
    Connecting is retried with backoff (nothing was generated yet); nothing else is."""
    delay = 0.25
    for attempt in range(3):
        try:
            with client.stream("POST", "/v1/completions", json=job.body) as response:
                job.response = response
                if job.aborted:
                    return
                if response.status_code != 200:
                    response.read()
                    events.put(
                        ("status", job, response.status_code, error_message(response), response)
                    )
                    return
                for line in response.iter_lines():
                    if job.aborted:
                        return
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise httpx.RemoteProtocolError(error_message_of(chunk))
                    for choice in chunk.get("choices", []):
                        events.put(("choice", job, int(choice.get("index", 0)), choice))
            events.put(("end", job))
            return
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing was generated yet: safe to try again, with backoff.
            if job.aborted:
                return
            if attempt == 2:
                events.put(("fail", job, exc))
                return
            time.sleep(delay)
            delay *= 2
        except (httpx.HTTPError, ValueError) as exc:
            if not job.aborted:
                events.put(("fail", job, exc))
            return
