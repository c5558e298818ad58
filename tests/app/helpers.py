"""Small helpers shared by the service tests."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.events.cloudevents import EventKind

PASSWORD = "correct horse battery"

TODO_API = str(Path(sys.executable).with_name("todo-api"))
"""The console script of this virtualenv, run as the container runs it."""


def register(client: TestClient, username: str | None = None) -> dict[str, str]:
    """Register a user; returns the Authorization header of its token."""
    name = username or f"user-{uuid.uuid4().hex[:8]}"
    response = client.post("/api/v1/auth/register", json={"username": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def create_task(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/tasks", json={"title": "a task", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def dead_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def read_events(bootstrap: str, prefix: str, count: int, timeout: float = 60) -> list[Any]:
    """Read ``count`` messages from the four task topics, from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([prefix + kind.topic for kind in EventKind])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is None:
                    messages.append(message)
    finally:
        consumer.close()
    return messages


def value(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(message.value())
    return result


class TcpProxy:
    """Forwards a loopback port to a server, and takes the server away the three ways one goes.

    ``cut``: refused connections (a stopped server). ``hang``: connections are accepted and
    requests swallowed, nothing ever answers (a SIGSTOPped or wedged server). ``blackhole``: new
    connections never complete and open ones go silent (an unreachable host): the listener's
    one-slot accept queue is kept full, so the kernel drops further handshakes.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._silent = False
        self.port = 0

    def start(self) -> int:
        self.cut()
        self._silent = False
        listener = self._listen(backlog=128)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self.port

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def hang(self) -> None:
        self._silent = True

    def blackhole(self) -> None:
        self._silent = True
        with self._lock:
            listeners = [s for s in self._sockets if s.getsockname()[1] == self.port]
            self._sockets = [s for s in self._sockets if s not in listeners]
        for listener in listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
        self._listen(backlog=0)
        self._track(socket.create_connection(("127.0.0.1", self.port)))

    def _listen(self, backlog: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(backlog)
        self.port = listener.getsockname()[1]
        self._track(listener)
        return listener

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                self._track(client)
                if self._silent:
                    continue
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            self._track(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self._silent:
                    sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)


class FakeClock:
    """Seconds that pass only when a test says so: throttling tested by counts, not sleeps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    """``POST /api/v1/auth/token`` with the password grant's form."""
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def add_users(engine: Engine, *usernames: str) -> None:
    """Rows as an older schema allowed them, written past the service's rules."""
    with engine.begin() as connection:
        for username in usernames:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, created_at)"
                    " VALUES (:id, :username, 'x', CURRENT_TIMESTAMP)"
                ),
                {"id": uuid.uuid4().hex, "username": username},
            )
