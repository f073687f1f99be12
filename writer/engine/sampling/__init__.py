"""Choosing tokens: logits processors (min-p, typical, DRY, repetition: processors), phrase
bans and bias with backtracking (phrases), every token's bytes (tokentable), stop sequences
(stops), and the token probabilities shown to the author (tokenprobs).

May import: torch, transformers' processors, writer.presets, writer.engine.types. `stops` and
`tokentable` stay torch-free, so the UI and story framing use them without loading torch
(import-linter checks this). The names below are exported lazily: `import
writer.engine.sampling` loads nothing, and importing `stops` does not load the processors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from writer.engine.sampling.phrases import BanMatcher, BanTracker, PhraseBiasLogitsProcessor
    from writer.engine.sampling.processors import apply_processors, build_processors, choose_tokens
    from writer.engine.sampling.stops import find_stop, safe_length
    from writer.engine.sampling.tokenprobs import TokenTexts, next_token_choices
    from writer.engine.sampling.tokentable import TokenTable, token_table

__all__ = [
    "apply_processors",
    "build_processors",
    "choose_tokens",
    "BanMatcher",
    "BanTracker",
    "PhraseBiasLogitsProcessor",
    "find_stop",
    "safe_length",
    "TokenTexts",
    "next_token_choices",
    "TokenTable",
    "token_table",
]


def __getattr__(name: str) -> Any:
    # PEP 562: a name's module is imported on first use, so importing the package stays light.
    if name in ("apply_processors", "build_processors", "choose_tokens"):
        from writer.engine.sampling import processors

        return getattr(processors, name)
    if name in ("BanMatcher", "BanTracker", "PhraseBiasLogitsProcessor"):
        from writer.engine.sampling import phrases

        return getattr(phrases, name)
    if name in ("find_stop", "safe_length"):
        from writer.engine.sampling import stops

        return getattr(stops, name)
    if name in ("TokenTexts", "next_token_choices"):
        from writer.engine.sampling import tokenprobs

        return getattr(tokenprobs, name)
    if name in ("TokenTable", "token_table"):
        from writer.engine.sampling import tokentable

        return getattr(tokentable, name)
    raise AttributeError(name)
