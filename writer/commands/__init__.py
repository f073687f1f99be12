"""One module per `writer` subcommand: `add_parser(subparsers)` and `run(args) -> int`.

These modules are imported only when their command runs; keep torch imports inside `run`.
"""
