"""The Redis behind `redis_url` is a real server: it keeps values and expires them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield connection
    finally:
        connection.close()


def test_server_is_redis_on_loopback(client: redis.Redis) -> None:
    info = client.info("server")
    assert int(str(info["redis_version"]).split(".")[0]) >= 6
    assert int(info["tcp_port"]) == client.connection_pool.connection_kwargs["port"]
    assert client.connection_pool.connection_kwargs["host"] == "127.0.0.1"


def test_values_round_trip_and_expire(client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    client.set(key, "kept", px=300)
    assert client.get(key) == "kept"
    assert 0 < client.pttl(key) <= 300
    time.sleep(0.5)
    assert client.get(key) is None


def test_increments_are_atomic_on_the_server(client: redis.Redis) -> None:
    key = f"test:{uuid.uuid4().hex}"
    try:
        with client.pipeline(transaction=True) as pipe:
            for _ in range(50):
                pipe.incr(key)
            results = pipe.execute()
        assert results[-1] == 50
        assert client.get(key) == "50"
    finally:
        client.delete(key)
