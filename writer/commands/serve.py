"""`writer serve`: serve a model over the OpenAI completions API subset (see writer/serve/)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from writer.commands import device_type
from writer.errors import UsageError, WriterError

DEFAULT_PORT = 8000


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model over an OpenAI-compatible API",
        description="Serve a model over the OpenAI completions API (/v1/completions with n, "
        "streaming, logprobs, seed; /v1/models; /tokenize). Binds 127.0.0.1 unless --host "
        "says otherwise, and any other address needs --api-key.",
    )
    p.add_argument("--model", help="hub id, local folder or fine-tuned name (default: config)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--api-key",
        help="clients must send it as 'Authorization: Bearer KEY' (required off loopback; "
        "writer's client reads it from WRITER_API_KEY)",
    )
    p.add_argument("--device", type=device_type, help="cpu, cuda, cuda:N")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto")
    p.add_argument(
        "--max-running",
        type=int,
        default=16,
        metavar="N",
        help="completions decoded together at most (default 16); more wait their turn",
    )
    p.add_argument(
        "--max-waiting",
        type=int,
        default=64,
        metavar="N",
        help="completions waiting at most (default 64); past it a request gets 503 and Retry-After",
    )


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535; got {args.port}")
    if args.api_key is not None and not args.api_key.strip():
        raise UsageError("--api-key is empty; give a long random key")
    if args.api_key is not None and not (args.api_key.isascii() and args.api_key.isprintable()):
        # HTTP headers carry bytes that clients encode differently beyond ASCII.
        raise UsageError("--api-key must be printable ASCII (letters, digits, punctuation)")
    if not _is_loopback(args.host) and not args.api_key:
        raise UsageError(
            f"--host {args.host} makes the server reachable from other machines; "
            "add --api-key KEY (and put it behind TLS, e.g. a reverse proxy)"
        )
    if args.model is not None and not args.model.strip():
        raise UsageError("--model is empty; give a hub id such as gpt2, a folder or a fine-tune")
    if not 1 <= args.max_running <= 256:
        raise UsageError(f"--max-running must be 1 to 256; got {args.max_running}")
    if not 0 <= args.max_waiting <= 100_000:
        raise UsageError(f"--max-waiting must be 0 to 100000; got {args.max_waiting}")
    import uvicorn

    from writer.config import load_config
    from writer.engine import load_engine
    from writer.serve.app import Server

    config = load_config()
    model = args.model or config.model
    sock = _bind(args.host, args.port)  # before the model loads: a taken port fails fast
    try:
        engine = load_engine(model, device=args.device or config.device, precision=args.precision)
    except BaseException:
        sock.close()
        raise
    server = Server(
        engine,
        model,
        api_key=args.api_key,
        max_running=args.max_running,
        max_waiting=args.max_waiting,
    )
    from writer.serve.limits import uvicorn_limits

    config = uvicorn.Config(
        server,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        **uvicorn_limits(),
    )
    userver = uvicorn.Server(config)
    _announce(userver, model, args)
    userver.run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one error line (uvicorn would log
    and exit on its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WriterError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
            "(0 picks a free one)"
        ) from None
    return sock


def _announce(userver, model: str, args: argparse.Namespace) -> None:
    """Print the bound URL once uvicorn listens (port 0 picks a free one: tests read it)."""
    original = userver.startup

    async def startup(sockets=None):
        import asyncio
        import logging

        from writer.serve.limits import RepeatedErrorLog

        # A flood of one error (accept() failing while descriptors run out) is one log line
        # per minute with a count, not a traceback per attempt.
        log = RepeatedErrorLog(logging.getLogger("writer.serve"))
        asyncio.get_running_loop().set_exception_handler(log)
        await original(sockets=sockets)
        for server in userver.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                print(
                    f"writer: serving {model} at http://{host}:{port}/v1 "
                    f"({'API key required' if args.api_key else 'no API key'})",
                    file=sys.stderr,
                    flush=True,
                )
                return

    userver.startup = startup
