"""`writer serve`'s connection limits (a real uvicorn server on 127.0.0.1, with short limits),
its round-robin turns across clients, and the log of a repeated error."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from writer.serve.limits import GuardedH11Protocol, RepeatedErrorLog, uvicorn_limits


class QuickProtocol(GuardedH11Protocol):
    header_timeout = 0.5
    max_connections = 4


@pytest.fixture
def quick_server():
    async def hello(request):
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/", hello)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    limits = {**uvicorn_limits(), "http": QuickProtocol}
    config = uvicorn.Config(app, log_level="critical", access_log=False, **limits)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield sock.getsockname()
    server.should_exit = True
    thread.join(10)


def _closed_within(conn: socket.socket, seconds: float) -> bool:
    """Whether the server closes `conn` within `seconds` (reads until EOF)."""
    conn.settimeout(seconds)
    try:
        while conn.recv(1024):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_a_header_trickled_in_is_cut_off(quick_server):
    conn = socket.create_connection(quick_server)
    start = time.monotonic()
    for byte in b"GET / HTTP/1.1\r\n":  # one byte each 0.1 s: the deadline passes midway
        try:
            conn.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.1)
        if time.monotonic() - start > 0.8:
            break
    assert _closed_within(conn, 2.0)
    assert time.monotonic() - start < 2.5
    conn.close()


def test_a_silent_connection_is_closed_and_a_prompt_one_is_served(quick_server):
    silent = socket.create_connection(quick_server)
    assert _closed_within(silent, 2.0)
    silent.close()
    quick = socket.create_connection(quick_server)
    quick.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    quick.settimeout(5)
    reply = b""
    while chunk := quick.recv(1024):
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hi")
    quick.close()


def test_connections_past_the_cap_are_closed_at_once(quick_server):
    held = [socket.create_connection(quick_server) for _ in range(4)]
    extra = socket.create_connection(quick_server)
    assert _closed_within(extra, 0.4)  # before the header deadline: refused, not timed out
    for conn in [*held, extra]:
        conn.close()


def test_a_repeated_error_is_logged_once_then_counted(caplog):
    now = [0.0]
    log = RepeatedErrorLog(logging.getLogger("writer.serve.test"), every_s=60, clock=lambda: now[0])
    context = {"message": "socket.accept() out of system resource", "exception": OSError(24, "x")}
    with caplog.at_level(logging.ERROR, logger="writer.serve.test"):
        for _ in range(1000):
            log(None, context)
            now[0] += 0.1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "out of system resource" in lines[0]
    assert "(repeated 600 times)" in lines[1]
