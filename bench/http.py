"""A lean HTTP/1.1 keep-alive client for the load generator.

Why not httpx: its connection pool scans every connection on each request (profiled with
py-spy: most of the generator's CPU went to `has_expired`/`is_idle`), so once a slow server makes
connections pile up, the generator itself becomes the bottleneck and its own queueing shows up as
server latency. On a 2-core machine shared with the server under test, the client must cost next
to nothing. This one speaks just what the API answers: JSON bodies with Content-Length.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Response:
    status_code: int
    body: bytes

    def json(self) -> Any:  # noqa: ANN401 - a JSON document is any shape
        return json.loads(self.body)


class HttpTransportError(ConnectionError):
    """The connection failed or closed before a whole response arrived."""


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# uvicorn closes a keep-alive connection after 5 idle seconds; never reuse one that old, or the
# request would race the server's close and fail without the server having seen it.
MAX_IDLE_SECONDS = 4.0


class HttpPool:
    """At most `size` keep-alive connections to one loopback server, reused in LIFO order."""

    def __init__(self, base_url: str, size: int = 32, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"base_url must be http://host:port, got {base_url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._idle: list[tuple[_Connection, float]] = []
        self._slots = asyncio.Semaphore(size)
        self._timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,  # noqa: ANN401 - any JSON-serialisable value
        headers: dict[str, str] | None = None,
    ) -> Response:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}:{self._port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        async with self._slots:
            connection = await self._checkout()
            try:
                response = await asyncio.wait_for(
                    self._exchange(connection, message), self._timeout
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                connection[1].close()
                raise HttpTransportError(f"{method} {path}: {exc!r}") from exc
            self._idle.append((connection, time.monotonic()))
            return response

    async def _checkout(self) -> _Connection:
        while self._idle:
            connection, last_used = self._idle.pop()
            if time.monotonic() - last_used < MAX_IDLE_SECONDS and not connection[0].at_eof():
                return connection
            connection[1].close()
        return await self._connect()

    async def _connect(self) -> _Connection:
        try:
            return await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise HttpTransportError(f"connect {self._host}:{self._port}: {exc!r}") from exc

    @staticmethod
    async def _exchange(connection: _Connection, message: bytes) -> Response:
        reader, writer = connection
        writer.write(message)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise ValueError(f"unsupported transfer-encoding {value.strip()!r}")
        return Response(status, await reader.readexactly(length) if length else b"")

    async def close(self) -> None:
        while self._idle:
            (_, writer), _ = self._idle.pop()
            writer.close()


class Replicas:
    """Several servers of one service, each with its own pool, given requests in turn: what a
    Kubernetes Service does with its pods, so a benchmark can run the API as a stack does."""

    def __init__(self, base_urls: Sequence[str], size: int = 32, timeout: float = 30.0) -> None:
        if not base_urls:
            raise ValueError("base_urls must not be empty")
        self._pools = [HttpPool(url, size, timeout) for url in base_urls]
        self._turn = itertools.cycle(self._pools)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,  # noqa: ANN401 - any JSON-serialisable value
        headers: dict[str, str] | None = None,
    ) -> Response:
        return await next(self._turn).request(method, path, body, headers)

    async def close(self) -> None:
        for pool in self._pools:
            await pool.close()
