"""`writer models`: base models in the Hugging Face cache and the author's fine-tuned models."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list base models in the Hugging Face cache and your fine-tuned models"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer models`."""
    p = subparsers.add_parser(
        "models",
        help=HELP,
        description=HELP + ", one per line; `writer models delete NAME` and "
        "`writer models rename OLD NEW` manage your fine-tunes.",
    )
    p.add_argument("--json", action="store_true", help="print every entry with its full manifest")
    actions = p.add_subparsers(dest="action", metavar="{delete,rename}")
    delete = actions.add_parser("delete", help="delete one of your fine-tuned models")
    delete.add_argument("name", help="the fine-tune's name (see `writer models`)")
    rename = actions.add_parser("rename", help="give one of your fine-tuned models a new name")
    rename.add_argument("old", help="its current name")
    rename.add_argument("new", help="the new name: letters, digits, '.', '_' and '-'")
    return p


def describe(manifest: dict[str, Any]) -> str:
    """A one-line summary of a fine-tuned model's manifest."""
    if "error" in manifest:
        return str(manifest["error"])
    parts = [f"{manifest.get('method', '?')} on {manifest.get('base', '?')}"]
    if "steps" in manifest:
        parts.append(f"{manifest['steps']} steps")
    before, after = manifest.get("perplexity_before"), manifest.get("perplexity_after")
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        parts.append(f"perplexity {before:.1f} -> {after:.1f}")
    if manifest.get("date"):
        parts.append(str(manifest["date"])[:10])
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Print one line per model (or a JSON list with --json); or delete / rename a fine-tune."""
    from writer.engine.models import KNOWN_HUB_MODELS, list_models
    from writer.paths import models_dir
    from writer.training.tuned import delete_finetuned, rename_finetuned

    if getattr(args, "action", None) == "delete":
        folder = delete_finetuned(args.name)
        print(f"deleted fine-tuned model {args.name!r} ({folder})")
        return 0
    if getattr(args, "action", None) == "rename":
        folder = rename_finetuned(args.old, args.new)
        print(
            f"renamed fine-tuned model {args.old!r} to {args.new!r} ({folder}); "
            f"use it with --model {args.new}"
        )
        return 0

    infos = list_models()
    if args.json:
        rows = [
            {"name": i.name, "kind": i.kind, "location": i.location, "manifest": i.manifest}
            for i in infos
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not infos:
        print(
            "no models yet: `writer download gpt2` fetches the base model, "
            f"`writer finetune FILES --name NAME` makes one in {models_dir()}"
        )
        return 0
    width = max(len(i.name) for i in infos)
    for info in infos:
        if info.kind == "finetuned":
            detail = f"{describe(info.manifest)}  {info.location}"
            if info.name in KNOWN_HUB_MODELS:
                detail += f"  (hidden by the hub model; `writer models rename {info.name} NEW`)"
        else:
            detail = info.location
        print(f"{info.name:<{width}}  {info.kind:<9}  {detail}")
    return 0
