"""Small helpers shared by the service tests."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from app.events.cloudevents import EventKind

PASSWORD = "correct horse battery"


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
