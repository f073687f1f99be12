"""Key names for hints, read from the bindings themselves.

Every key a hint names (the f1 help, palette entries, dialog borders, notifications) comes from
`key_for(owner, action)`, which reads the `BINDINGS` of the class that handles `action`; a hint
therefore cannot name a key that does something else, and a binding that is removed makes the
hint fail loudly (a test renders every hint) instead of lying.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

# How a key is written in a hint where Textual's key name is not what the author types.
_SHOWN = {"backslash": "\\", "escape": "escape", "enter": "enter"}


def _bindings(owner: Any) -> list[Binding]:
    cls = owner if isinstance(owner, type) else type(owner)
    found: list[Binding] = []
    palette = getattr(cls, "COMMAND_PALETTE_BINDING", None)  # an App binds it when it starts
    if palette and getattr(cls, "ENABLE_COMMAND_PALETTE", False):
        found.append(Binding(palette, "command_palette"))
    for klass in cls.__mro__:
        for item in klass.__dict__.get("BINDINGS", ()):
            found.append(item if isinstance(item, Binding) else Binding(*item))
    return found


def show_key(key: str) -> str:
    """A Textual key name as a hint writes it (`ctrl+backslash` is `ctrl+\\`)."""
    return "+".join(_SHOWN.get(part, part) for part in key.split("+"))


def keys_for(owner: Any, action: str) -> list[str]:
    """Every key `owner` (a class or an instance of one) binds to `action`, in binding order."""
    keys: list[str] = []
    for binding in _bindings(owner):
        if binding.action == action:
            keys.extend(show_key(k.strip()) for k in binding.key.split(",") if k.strip())
    return keys


def key_for(owner: Any, action: str) -> str:
    """The (first) key `owner` binds to `action`, as a hint writes it; LookupError if none."""
    keys = keys_for(owner, action)
    if not keys:
        name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        raise LookupError(f"{name} binds no key to {action!r}")
    return keys[0]


def action_of(owner: Any, key: str) -> str | None:
    """The action `owner` binds to `key` (written as a hint writes it), or None."""
    for binding in _bindings(owner):
        if key in (show_key(k.strip()) for k in binding.key.split(",")):
            return binding.action
    return None
