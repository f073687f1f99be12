"""One module per `writer` subcommand: `add_parser(subparsers)` and `run(args) -> int`.

These modules are imported only when their command runs; keep torch imports inside `run`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from writer.engine.types import MAX_SEED  # torch-free


def seed_type(text: str) -> int:
    """argparse type for --seed: a whole number from 0 to 2**63-1 (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to {MAX_SEED}; got {text!r}"
        ) from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}; got {text}")
    return value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type for a whole number from `low` to `high`: anything else is a usage error
    (exit 2) naming the range, before any model loads."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}; got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}; got {value}"
            )
        return value

    parse.__name__ = "int"  # argparse names the type in its own messages
    return parse


# The largest token counts a flag may ask for; a model's own context is checked on loading.
MAX_TOKENS_FLAG = 65_536


# What --device (and `device` in config.toml) may say; whether it exists is checked on loading.
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]{1,3})?)$")


def device_type(text: str) -> str:
    """argparse type for --device: cpu, cuda, cuda:N, mps or auto (a usage error otherwise)."""
    if not DEVICE_RE.match(text):
        raise argparse.ArgumentTypeError(f"use cpu, cuda, cuda:N, mps or auto; got {text!r}")
    return text
