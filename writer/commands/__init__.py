"""One module per `writer` subcommand: `add_parser(subparsers)` and `run(args) -> int`.

These modules are imported only when their command runs; keep torch imports inside `run`.
"""

from __future__ import annotations

import argparse

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
