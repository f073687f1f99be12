"""`writer eval FILES_OR_DIRS... --model M`: perplexity of a model on the author's text."""

from __future__ import annotations

import argparse
from typing import Any

from writer.commands import device_type
from writer.errors import UsageError, WriterError

HELP = "measure a model's perplexity on .txt/.md files (lower: the text is less surprising)"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `writer eval`."""
    p = subparsers.add_parser(
        "eval",
        help=HELP,
        description=HELP
        + ". Long texts are scored with a sliding window: each token is predicted from up to "
        "--block-size tokens of context, windows advancing by --stride.",
    )
    p.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS", help="text files or folders")
    p.add_argument(
        "--model", default=None, help="hub id, local folder or fine-tuned model name (default gpt2)"
    )
    p.add_argument("--block-size", type=int, help="window length (default: the model's context)")
    p.add_argument("--stride", type=int, help="window step (default: half the block size)")
    p.add_argument(
        "--device", type=device_type, help="cpu, cuda, cuda:1 ... (default: cuda when available)"
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Print `perplexity: X` and the number of tokens scored."""
    from writer.engine.corpus import encode_documents, read_corpus
    from writer.engine.evaluate import check_window, perplexity
    from writer.engine.models import DEFAULT_MODEL, load_model_and_tokenizer

    if args.model is not None and not args.model.strip():
        raise UsageError("--model is empty; give a hub id such as gpt2, a folder or a fine-tune")
    corpus = read_corpus(args.paths, use="evaluate")  # bad paths fail before the model loads
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model, tokenizer, _source = load_model_and_tokenizer(
        DEFAULT_MODEL if args.model is None else args.model, device=args.device
    )
    try:
        block, stride = check_window(model, args.block_size, args.stride)
    except WriterError as exc:  # --block-size / --stride out of range: a usage error
        raise UsageError(f"{exc} (see `writer eval --help`)") from None
    ids = encode_documents(tokenizer, corpus.texts)
    result = perplexity(model, ids, block, stride)
    print(f"perplexity: {result.perplexity:.4f}")
    print(
        f"tokens: {result.tokens} (in {len(corpus.files)} file(s); block {block}, stride {stride})"
    )
    return 0
