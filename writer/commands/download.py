"""`writer download NAME`: fetch a model into the Hugging Face cache (progress bar)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download a hub model (e.g. gpt2) for offline use")
    p.add_argument("name", help="hub id: gpt2, distilgpt2, gpt2-medium, gpt2-large, gpt2-xl, ...")


def run(args: argparse.Namespace) -> int:
    from writer.engine.models import download

    path = download(args.name)
    print(f"downloaded {args.name} to {path}")
    return 0
