"""`writer presets`: every preset with its values, one per line."""

from __future__ import annotations

import argparse

from writer.presets import DEFAULT_PRESET, all_presets


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("presets", help="list the creativity presets and their values")


def run(args: argparse.Namespace) -> int:
    presets = all_presets()
    width = max(map(len, presets))
    for name, preset in presets.items():
        tags = ["built-in" if preset.builtin else f"user: {preset.source}"]
        if name == DEFAULT_PRESET:
            tags.append("default")
        print(
            f"{name:<{width}}  {preset.params.describe()}  ({', '.join(tags)}) {preset.description}"
        )
    return 0
