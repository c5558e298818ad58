"""The Redis cache: reads are cached, writes invalidate, and Redis trouble never breaks answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.main import create_app
from app.models import Task
from tests.app.helpers import TcpProxy, create_task, dead_port, register


def _cached(settings: Settings, redis_url: str, prefix: str) -> Settings:
    return settings.model_copy(update={"redis_url": redis_url, "redis_key_prefix": prefix})


def _behind_the_apps_back(sessions: sessionmaker[Session], title: str) -> None:
    with sessions() as session, session.begin():
        session.execute(update(Task).values(title=title))


def test_reads_are_cached_and_writes_invalidate(
    settings: Settings, sessions: sessionmaker[Session], redis_url: str, redis_prefix: str
) -> None:
    with TestClient(create_app(_cached(settings, redis_url, redis_prefix))) as client:
        headers = register(client)
        task = create_task(client, headers, title="original")
        url = f"/api/v1/tasks/{task['id']}"
        assert client.get(url, headers=headers).json()["title"] == "original"
        assert (
            client.get("/api/v1/tasks", headers=headers).json()["items"][0]["title"] == "original"
        )
        _behind_the_apps_back(sessions, "changed in the database only")
        # Served from Redis: the cache does not see a change that bypassed the service.
        assert client.get(url, headers=headers).json()["title"] == "original"
        assert (
            client.get("/api/v1/tasks", headers=headers).json()["items"][0]["title"] == "original"
        )
        assert Redis.from_url(redis_url).keys(f"{redis_prefix}*")
        patched = client.patch(url, json={"priority": "high"}, headers=headers).json()
        # The write invalidated both entries: both now show the database's state.
        assert client.get(url, headers=headers).json() == patched
        assert patched["title"] == "changed in the database only"
        assert client.get("/api/v1/tasks", headers=headers).json()["items"] == [patched]


def test_redis_unreachable_from_the_start_still_answers(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{dead_port()}/0"})
    with caplog.at_level(logging.WARNING), TestClient(create_app(dead)) as client:
        headers = register(client)
        task = create_task(client, headers)
        url = f"/api/v1/tasks/{task['id']}"
        assert client.get(url, headers=headers).json() == task
        patched = client.patch(url, json={"title": "new"}, headers=headers)
        assert patched.status_code == 200
        assert client.get(url, headers=headers).json() == patched.json()
        assert client.get("/api/v1/tasks", headers=headers).json()["items"] == [patched.json()]
        login = client.post(
            "/api/v1/auth/token", data={"username": "nobody", "password": "wrong password"}
        )
        assert login.status_code == 401, "the login limiter counts in-process without Redis"
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "database": "ok", "cache": "down"}
        errors = client.get("/metrics").text
    assert "todo_cache_errors_total" in errors
    assert any("redis unavailable" in r.getMessage() for r in caplog.records)


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(make_url(redis_url).port or 6379)
    proxy.start()
    yield proxy
    proxy.cut()


def test_redis_going_away_and_back_never_serves_a_stale_task(
    settings: Settings,
    redis_proxy: TcpProxy,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.cache.RETRY_AFTER_SECONDS", 0.2)
    proxied = _cached(settings, f"redis://127.0.0.1:{redis_proxy.port}/0", redis_prefix)
    with TestClient(create_app(proxied)) as client:
        headers = register(client)
        task = create_task(client, headers, title="before")
        url = f"/api/v1/tasks/{task['id']}"
        assert client.get(url, headers=headers).json()["title"] == "before"  # now cached

        redis_proxy.cut()
        during = client.patch(url, json={"title": "during the outage"}, headers=headers)
        assert during.status_code == 200
        assert client.get(url, headers=headers).json()["title"] == "during the outage"

        redis_proxy.start()
        time.sleep(0.3)
        # The invalidation missed during the outage is replayed before Redis is read again.
        assert client.get(url, headers=headers).json()["title"] == "during the outage"
        assert client.get("/readyz").json()["cache"] == "ok"
