"""OpenAI request bodies for `writer serve`: parsing (off the event loop), validation with
JSON's own types, and errors as OpenAI error objects."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from writer.presets import FIELDS, PARAM_KINDS, ParamError, SamplingParams
from writer.serve.scheduler import REQUEST_FIELDS

# OpenAI's request fields writer maps onto SamplingParams, and those it accepts and ignores.
_OPENAI_NAMES = {"max_tokens": "max_new_tokens"}
_IGNORED = {"user", "best_of", "presence_penalty", "frequency_penalty", "suffix", "repeat_penalty"}
_IGNORED |= {"repeat_last_n", "dry_penalty_last_n", "content", "add_special_tokens"}
# A request body's limit: a 1024-token prompt is ~10 KB of ids or text.
MAX_BODY = 4 * 2**20
# /tokenize's limit: far beyond any context (GPT-2's 1024 tokens are ~4,000 characters).
MAX_TOKENIZE_CHARS = 1_000_000
_CONTROL = {"model", "prompt", "n", "stream", "seed", "logprobs", "echo", "stop"}
_CONTROL |= {"return_tokens_as_token_ids", "stream_options", "stop_rule"} | REQUEST_FIELDS


def error(status: int, message: str, kind: str = "invalid_request_error", param: Any = None):
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status)


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


def parse_params(body: dict[str, Any]) -> SamplingParams:
    """SamplingParams from a request, with OpenAI's names and defaults (temperature 1, top_p 1,
    top_k off, 16 tokens) where the request leaves a field out."""
    values: dict[str, Any] = {
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
        "repetition_penalty": 1.0,
        "max_new_tokens": 16,
    }
    for key, value in body.items():
        if key in _CONTROL or key in _IGNORED or value is None:
            continue
        name = _OPENAI_NAMES.get(key, key)
        if name not in FIELDS or name == "stop":
            raise BadRequest(f"unknown parameter {key!r}", key)
        _check_json_number(key, PARAM_KINDS.get(name), value)
        values[name] = value
    if isinstance(values.get("top_k"), int) and values["top_k"] < 0:
        values["top_k"] = 0  # -1 is "off" in vLLM and llama.cpp
    if isinstance(values.get("bias"), dict):
        values["bias"] = tuple(values["bias"].items())
    stop = body.get("stop")
    if stop:
        values["stop"] = tuple(stop) if isinstance(stop, list) else stop
        if values["stop"] in ("none", "sentence", "paragraph"):  # a text, as OpenAI means it
            values["stop"] = (values["stop"],)
    rule = body.get("stop_rule")  # writer's own rules, from writer's remote engine
    if rule is not None:
        if stop or rule not in ("none", "sentence", "paragraph"):
            raise BadRequest("stop_rule must be none, sentence or paragraph, without stop")
        values["stop"] = rule
    try:
        return SamplingParams(**values)
    except ParamError as exc:
        raise BadRequest(str(exc).replace("max_new_tokens", "max_tokens")) from None
    except TypeError as exc:
        raise BadRequest(str(exc)) from None


def _check_json_number(key: str, kind: type | None, value: Any) -> None:
    """JSON numbers as JSON says them: an integer field takes an integer, not "16" or 16.0."""
    if kind is None:
        return
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"{key} must be a JSON integer; got {value!r}", key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{key} must be a JSON number; got {value!r}", key)


def parse_body(raw: bytes) -> Any:
    """The request's JSON (on a worker thread: a 4 MB body takes a while to parse)."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadRequest("the request body nests lists or objects too deeply") from None
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None
    try:  # "\ud800" is valid JSON but not Unicode text: no tokenizer or file can take it
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ascii(exc.object[exc.start : exc.end])
        raise BadRequest(f"the request holds {bad}, a lone surrogate that is not text") from None
    except RecursionError:
        raise BadRequest("the request body nests lists or objects too deeply") from None
    return body


def public_model_name(name: str) -> str:
    """The model's id for clients: a local folder by its name, never its path on this machine."""
    import os

    path = os.path.expanduser(name)
    if os.path.isdir(path):
        return os.path.basename(os.path.normpath(path)) or name
    return name


def client_key(request: Request) -> str:
    """Whose request this is, for taking turns: the peer's address."""
    return request.client.host if request.client else ""


def check_int(body: dict[str, Any], key: str, default: Any, low: int, high: int) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}; got {value!r}", key)
    return value
