"""The Redis cache: reads are cached, writes invalidate, and Redis trouble never breaks answers."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from redis import Redis, RedisError
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.breaker import Breaker
from app.cache import Json, TaskCache
from app.core.config import Settings
from app.main import create_app
from app.models import Task
from app.runtime import _redis_client
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


def test_each_filtered_list_is_its_own_entry(
    settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    """Lists differing only in a filter (a tag holding a colon included) never share an entry,
    and a change of tags invalidates them all."""
    with TestClient(create_app(_cached(settings, redis_url, redis_prefix))) as client:
        headers = register(client)
        create_task(client, headers, title="home", tags=["a:b"], priority="high")
        work = create_task(client, headers, title="work", tags=["a"], priority="low")

        def titles(**filters: str) -> list[str]:
            page = client.get("/api/v1/tasks", params=filters, headers=headers)
            return [task["title"] for task in page.json()["items"]]

        for _ in range(2):  # the second round is answered from Redis
            assert titles() == ["work", "home"]
            assert titles(tag="a:b") == ["home"]
            assert titles(tag="a") == ["work"]
            assert titles(priority="high") == ["home"]
            assert titles(priority="high", tag="a") == []
        client.patch(f"/api/v1/tasks/{work['id']}", json={"tags": ["a:b"]}, headers=headers)
        assert titles(tag="a:b") == ["work", "home"]
        assert titles(tag="a") == []


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
        assert ready.json() == {
            "status": "ready",
            "database": "ok",
            "schema": "current",
            "cache": "down",
        }
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
    monkeypatch.setattr("app.runtime.REDIS_RETRY_AFTER_SECONDS", 0.2)
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


# The three ways Redis goes away, as the proxy plays them.
OUTAGES: dict[str, Callable[[TcpProxy], None]] = {
    "refused": TcpProxy.cut,
    "hanging": TcpProxy.hang,
    "unreachable": TcpProxy.blackhole,
}
WRONG_LOGIN = {"username": "nobody", "password": "wrong password"}
TIMEOUT_S = 0.25
# A guard, not a speed target: with redis-py's default retries one call took 1.2-5 s here.
ONE_CALL_S = 1.0


class FrozenClock:
    """The breaker's clock, moved by the test: windows end when the test says, not by speed."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_one_call_to_a_dead_redis_costs_at_most_one_timeout(
    redis_proxy: TcpProxy, outage: str
) -> None:
    client = _redis_client(f"redis://127.0.0.1:{redis_proxy.port}/0", TIMEOUT_S)
    assert client is not None
    assert client.ping()
    OUTAGES[outage](redis_proxy)
    for _ in range(3):  # a pooled connection, then fresh ones
        started = time.perf_counter()
        with pytest.raises(RedisError):
            client.get("anything")
        took = time.perf_counter() - started
        assert took < ONE_CALL_S, f"one call to a {outage} Redis took {took:.2f}s"


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_an_outage_costs_one_call_per_window_whatever_the_crowd(
    redis_proxy: TcpProxy, redis_prefix: str, outage: str
) -> None:
    clock = FrozenClock()
    failures: list[None] = []
    breaker = Breaker(
        "redis", 2.0, (RedisError,), on_error=lambda: failures.append(None), clock=clock
    )
    client = _redis_client(f"redis://127.0.0.1:{redis_proxy.port}/0", TIMEOUT_S)
    cache = TaskCache(client, breaker, prefix=redis_prefix, ttl_seconds=60)
    user = uuid.uuid4()
    assert cache.read(user, "one", lambda: {"v": 1}) == {"v": 1}
    assert cache.read(user, "one", lambda: {"v": 2}) == {"v": 1}, "not served from Redis"

    OUTAGES[outage](redis_proxy)
    threads, calls = 8, 25
    answers: list[Json] = []

    def crowd() -> None:
        for i in range(calls):
            answers.append(cache.read(user, "one", lambda: {"v": 3}))
            cache.invalidate(user)
            if i == calls // 2:
                clock.now += 10  # a window ends mid-crowd: one caller probes, alone

    workers = [threading.Thread(target=crowd) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert answers == [{"v": 3}] * (threads * calls), "an answer came from the dead cache"
    # Only callers already past the breaker when Redis failed, plus one probe per window that
    # ended, may have touched Redis: the other 190-odd calls answered without it.
    windows_ended = threads
    assert len(failures) <= threads + windows_ended, f"{len(failures)} calls touched a dead Redis"

    redis_proxy.start()
    clock.now += 10
    assert cache.ping(), "the probe after the outage did not close the breaker"
    # Every invalidation missed during the outage was replayed before Redis was read again.
    assert cache.read(user, "one", lambda: {"v": 4}) == {"v": 4}


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_no_request_makes_more_than_one_call_to_a_dead_redis(
    settings: Settings,
    redis_proxy: TcpProxy,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    outage: str,
) -> None:
    # No window ends during the test (the crowd test above covers the probes), so after the
    # first failure no request may touch Redis: not the cache, the login limiter or readiness.
    monkeypatch.setattr("app.runtime.REDIS_RETRY_AFTER_SECONDS", 3600.0)
    proxied = _cached(settings, f"redis://127.0.0.1:{redis_proxy.port}/0", redis_prefix)
    proxied = proxied.model_copy(update={"redis_timeout_seconds": TIMEOUT_S})
    with TestClient(create_app(proxied)) as client:
        errors = client.app.state.runtime.metrics.cache_errors  # type: ignore[attr-defined]
        headers = register(client)
        task = create_task(client, headers, title="before")
        url = f"/api/v1/tasks/{task['id']}"
        assert client.get(url, headers=headers).json()["title"] == "before"  # now cached

        OUTAGES[outage](redis_proxy)
        calls: dict[str, list[float]] = {}

        def counted(what: str, response_of: Callable[[], Response]) -> None:
            before = errors._value.get()
            response = response_of()
            calls.setdefault(what, []).append(errors._value.get() - before)
            assert response.status_code in {200, 401}, (what, response.text)

        for round_ in range(4):
            title = f"r{round_}"
            counted("patch", lambda t=title: client.patch(url, json={"title": t}, headers=headers))
            counted("get", lambda: client.get(url, headers=headers))
            counted("list", lambda: client.get("/api/v1/tasks", headers=headers))
            counted("login", lambda: client.post("/api/v1/auth/token", data=WRONG_LOGIN))
            counted("readyz", lambda: client.get("/readyz"))
            assert client.get(url, headers=headers).json()["title"] == title
            time.sleep(0.06)
        assert all(n <= 1 for ns in calls.values() for n in ns), (
            f"failed calls per request: {calls}"
        )
        assert sum(n for ns in calls.values() for n in ns) >= 1, "no request ever probed Redis"
        assert client.get("/readyz").json()["cache"] == "down"
