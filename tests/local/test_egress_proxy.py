"""The API server's egress proxy: a CONNECT to a routed name reaches its loopback port, with
nothing after the 200 before the client speaks; any other target is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stacks.local.egress_proxy import handle, parse_route

GUARD_S = 30.0


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()


async def _through(socket: Path, target: str, routes: dict[str, tuple[str, int]]) -> bytes:
    """Connect to the proxy on ``socket``, CONNECT ``target``, send a line; all it answers."""
    server = await asyncio.start_unix_server(lambda r, w: handle(routes, r, w), path=str(socket))
    async with server:
        reader, writer = await asyncio.open_unix_connection(str(socket))
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 200"):
            writer.write(b"hello")
            await writer.drain()
        answer = head + await reader.read()
        writer.close()
        return answer


async def _routed(socket: Path) -> bytes:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = echo.sockets[0].getsockname()[1]
    async with echo:
        route = parse_route(f"injector.ns.svc:443=127.0.0.1:{port}")
        return await _through(socket, "injector.ns.svc:443", dict([route]))


def test_a_routed_name_is_tunnelled_to_its_port(tmp_path: Path) -> None:
    answer = asyncio.run(asyncio.wait_for(_routed(tmp_path / "proxy.sock"), GUARD_S))
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\nhello"


def test_any_other_target_is_refused(tmp_path: Path) -> None:
    routes = dict([parse_route("injector.ns.svc:443=127.0.0.1:1")])
    answer = asyncio.run(
        asyncio.wait_for(_through(tmp_path / "p.sock", "example.internal:443", routes), GUARD_S)
    )
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_a_malformed_route_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="route 'injector:443' is not HOST:PORT=ADDRESS:PORT"):
        parse_route("injector:443")
