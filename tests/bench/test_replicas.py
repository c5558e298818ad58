"""The load generator spreads requests over API replicas in turn, as a Service does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.http import Replicas


class _Counting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        server.hits += 1
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    hits = 0


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    started = [_Server(("127.0.0.1", 0), _Counting) for _ in range(3)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in started]
    for thread in threads:
        thread.start()
    try:
        yield started
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


def test_each_replica_gets_its_turn(servers: list[_Server]) -> None:
    urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]

    async def send() -> list[int]:
        replicas = Replicas(urls)
        try:
            return [(await replicas.request("GET", "/healthz")).status_code for _ in range(9)]
        finally:
            await replicas.close()

    # A loop of its own, not asyncio.run: that leaves the thread without a current loop, which
    # the Pulumi mock tests that run later in this process need.
    loop = asyncio.new_event_loop()
    try:
        statuses = loop.run_until_complete(send())
    finally:
        loop.close()
    assert statuses == [200] * 9
    assert [s.hits for s in servers] == [3, 3, 3]


def test_no_replica_is_refused() -> None:
    with pytest.raises(ValueError, match="base_urls"):
        Replicas([])
