"""Benchmarks: writer's engine against plain `model.generate` and CTranslate2, in one run.

Run `python -m bench.run --help`; see bench/README.md.
"""
