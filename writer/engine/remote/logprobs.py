"""A server's OpenAI completions `logprobs` as writer's per-token data (TokenLogprobs), for the
remote engine: the probabilities view, swaps and `--logprobs K` work with a server as locally.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from writer.engine.types import TokenChoice, TokenLogprobs

NEG_INF = float("-inf")
NAN = float("nan")  # a log-probability the server did not give


def _token_id(label: Any) -> int:
    """The id in vLLM's "token_id:N" spelling of a token; -1 where a server gives only text."""
    if isinstance(label, str) and label.startswith("token_id:") and label[9:].isdigit():
        return int(label[9:])
    return -1


def _number(value: Any, missing: float) -> float:
    return float(value) if isinstance(value, int | float) else missing


def parse_logprobs(logprobs: dict[str, Any], text: str, k: int, texts: Any) -> list[TokenLogprobs]:
    """One streamed chunk's OpenAI completions `logprobs` as writer's per-token data.

    `text` is the chunk's text: each token's share of it comes from `text_offset` (relative to
    the chunk's first token, since servers count from different origins). `texts(ids)` gives
    token ids' own texts. `writer serve` adds its exact numbers under "writer"; from other
    servers the sampling-distribution log-probability is unknown (NaN), and a token named only
    by its text has id -1 (its alternatives -2, -3, ...: distinct, never the chosen one's
    unless the text is the same).
    """
    labels = list(logprobs.get("tokens") or [])
    n = len(labels)
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    offsets = logprobs.get("text_offset") or []
    ext = logprobs.get("writer") if isinstance(logprobs.get("writer"), dict) else {}
    ids = [int(i) for i in ext.get("token_ids") or []] or [_token_id(t) for t in labels]
    alts = ext.get("top") or []
    wanted = set(ids) | {int(a[0]) for row in alts for a in row}
    for row in tops:
        wanted |= {_token_id(key) for key in (row or {})}
    names = texts(sorted(i for i in wanted if i >= 0))
    own = [names.get(ids[i], "" if ids[i] >= 0 else str(labels[i])) for i in range(n)]
    if len(offsets) == n and n and all(isinstance(o, int) for o in offsets):
        bounds = [max(0, o - offsets[0]) for o in offsets] + [len(text)]
        shares = [text[bounds[i] : max(bounds[i], bounds[i + 1])] for i in range(n)]
        shares[-1] = text[bounds[n - 1] :]
    else:  # no offsets: each token's own text, the last one taking the rest
        shares, at = [], 0
        for i in range(n):
            share = text[at:] if i == n - 1 else text[at : at + len(own[i])]
            shares.append(share)
            at += len(share)
    sampled = ext.get("sampled_logprobs")
    out = []
    for i in range(n):
        if i < len(alts):
            top = [
                TokenChoice(int(a[0]), names.get(int(a[0]), ""), _number(a[1], NEG_INF),
                            _number(a[2], NEG_INF))
                for a in alts[i]
            ]  # fmt: skip
        else:
            row = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
            ranked = sorted(row.items(), key=lambda kv: -_number(kv[1], NEG_INF))
            top = []
            for j, (key, value) in enumerate(ranked):
                alt = _token_id(key)
                alt_text = names.get(alt, "") if alt >= 0 else str(key)
                if alt < 0:
                    alt = ids[i] if key == labels[i] else -2 - j
                top.append(TokenChoice(alt, alt_text, _number(value, NEG_INF), NAN))
        slp = (
            _number(sampled[i], NEG_INF) if isinstance(sampled, list) and i < len(sampled) else NAN
        )
        logprob = _number(values[i] if i < len(values) else None, NAN)
        out.append(TokenLogprobs(ids[i], shares[i], logprob, slp, tuple(top[:k])))
    return out


def kept_records(records: list[TokenLogprobs], length: int, every: bool) -> list[TokenLogprobs]:
    """The per-token data of the tokens covering a candidate's first `length` characters,
    their texts clipped there so they add up to the candidate's text (all of them when the
    server said the candidate kept them all)."""
    out: list[TokenLogprobs] = []
    at = 0
    for record in records:
        if at >= length and not every and out:
            break
        share = record.text[: max(0, length - at)]
        out.append(record if share == record.text else dataclasses.replace(record, text=share))
        at += len(record.text)
    return out
