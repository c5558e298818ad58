"""The API server's route to webhooks served on this machine: an HTTP CONNECT proxy.

Dapr's injector serves TLS with the certificate Sentry issues it, whose only name is
``dapr-sidecar-injector.dapr-system.svc``, and the API server checks a webhook's certificate
against the host of its URL. So the webhook's URL names that host, and something must take the
API server there without a cluster DNS, a Service network or a change to ``/etc/hosts``. The API
server sends every call to a webhook named by URL through its ``controlplane`` egress
(``--egress-selector-config-file``), here this proxy on a Unix socket: it connects each
``host:port`` it was given a route for to its loopback port and refuses every other target, so
the API server reaches nothing else through it.

Run as ``python -m stacks.local.egress_proxy --socket PATH --route HOST:PORT=127.0.0.1:PORT ...``
by the local control plane (``stacks.local.components``); one line per connection on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

HEAD_LIMIT = 8192
"""A CONNECT request is one line and a Host header; anything longer is not one."""
HEAD_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0

Routes = dict[str, tuple[str, int]]


def parse_route(text: str) -> tuple[str, tuple[str, int]]:
    """``HOST:PORT=ADDRESS:PORT`` as (the CONNECT target, where it goes)."""
    target, sep, upstream = text.partition("=")
    address, _, port = upstream.rpartition(":")
    if not sep or ":" not in target or not address or not port.isdigit():
        raise ValueError(f"route {text!r} is not HOST:PORT=ADDRESS:PORT")
    return target, (address, int(port))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _refuse(writer: asyncio.StreamWriter, status: str, why: str) -> None:
    print(f"refused: {why}", flush=True)
    writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
    with contextlib.suppress(OSError):
        await writer.drain()
        writer.close()


async def handle(
    routes: Routes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One tunnel: read the CONNECT request, connect its target's route, then copy both ways."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        writer.close()
        return
    method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
    target = rest.partition(" ")[0]
    upstream = routes.get(target)
    if method != "CONNECT" or upstream is None:
        await _refuse(writer, "403 Forbidden", f"{method} {target} has no route")
        return
    try:
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(*upstream), CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        await _refuse(writer, "502 Bad Gateway", f"{target} -> {upstream}: {exc}")
        return
    print(f"tunnel: {target} -> {upstream[0]}:{upstream[1]}", flush=True)
    # Nothing may follow the status before the client speaks: the API server fails a CONNECT
    # whose answer arrives with bytes after it.
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await writer.drain()
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def serve(socket: Path, routes: Routes) -> None:
    """Serve on ``socket`` until SIGTERM or SIGINT."""
    socket.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(
        lambda r, w: handle(routes, r, w), path=str(socket), limit=HEAD_LIMIT
    )
    socket.chmod(0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"serving {socket}: {', '.join(f'{t} -> {a}:{p}' for t, (a, p) in routes.items())}")
    async with server:
        await stop.wait()
    socket.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.local.egress_proxy")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--route", action="append", default=[], help="HOST:PORT=ADDRESS:PORT")
    args = parser.parse_args(argv)
    try:
        routes = dict(parse_route(route) for route in args.route)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(serve(args.socket, routes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
