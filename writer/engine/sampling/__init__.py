"""Choosing tokens: logits processors (min-p, typical, DRY, repetition), phrase bans and bias with
backtracking, stop sequences, and the token probabilities shown to the author.

May import: torch, transformers' processors, writer.presets, writer.engine.types. `stops` stays
torch-free, so the UI can use it without loading torch.
"""
