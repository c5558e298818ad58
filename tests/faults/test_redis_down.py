"""Redis goes away while the API serves writes and cached reads, then comes back.

Two ways: stopped (connections refused) and frozen with SIGSTOP (connections accepted, nothing
ever answered; the unreachable case, where connects time out, is in tests/app/test_cache.py).

What must hold: every answer stays correct: no error, and every read shows the latest write,
before, during and after the outage; including a task cached before the outage and changed
during it (the invalidation that could not reach Redis must not let the old entry come back).
And the breaker keeps the crowd off the dead Redis: the service's own count of failed Redis calls
stays within the requests in flight when it failed plus one probe per breaker window, where
without the breaker every request of the outage would add one. That is a count, so a busy machine
cannot fail it; the cost of one call (one timeout, no retries) is held in tests/app/test_cache.py.
Each phase lasts a count of check rounds and writes, not a span of seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.runtime import REDIS_RETRY_AFTER_SECONDS
from bench.faults import RATE, Counts, Fault, redis_frozen, redis_stopped, under_fault, until
from bench.http import HttpPool, Response
from bench.load import MAX_IN_FLIGHT, TaskWriter, User, register_user
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv, wait_until
from bench.servers import ServerSet
from tests.faults import checks

pytestmark = checks.SLOW_MACHINE_GUARD

COUNTS = Counts(before=100, during=150, after=100)
ROUNDS = 5  # write/read-back rounds of the checker in each phase
TASKS = "/api/v1/tasks"
POOL_SIZE = 4  # the checkers' connections
# Requests that may be past the breaker when Redis fails: every one the clients can have open.
IN_FLIGHT = MAX_IN_FLIGHT + POOL_SIZE
OUTAGES: dict[str, Callable[[ServerSet], Fault]] = {
    "stopped": redis_stopped,
    "frozen": redis_frozen,
}


class Checker:
    """Write, then read back through the cache, and note every answer that is not right."""

    def __init__(self, pool: HttpPool, user: User) -> None:
        self.pool = pool
        self.headers = user.headers
        self.problems: list[str] = []
        self.round_ends: list[float] = []
        # (perf_counter when answered, seconds taken) of every request.
        self.timings: list[tuple[float, float]] = []

    def rounds_since(self, instant: float) -> int:
        return sum(1 for end in self.round_ends if end >= instant)

    def took_between(self, start: float, end: float) -> list[float]:
        """Seconds taken by each request answered between two perf_counter instants."""
        return [took for at, took in self.timings if start <= at <= end]

    def longest_between(self, start: float, end: float) -> float:
        return max(self.took_between(start, end), default=0.0)

    def expect(self, what: str, ok: bool, got: Any) -> None:
        if not ok:
            self.problems.append(f"{what}: {got}")

    async def _request(self, method: str, path: str, body: Any = None) -> Response:
        started = time.perf_counter()
        response = await self.pool.request(method, path, body, self.headers)
        self.timings.append((time.perf_counter(), time.perf_counter() - started))
        return response

    async def create(self, title: str) -> str:
        created = await self._request("POST", TASKS, {"title": title})
        self.expect("create", created.status_code == 201, created.status_code)
        return str(created.json()["id"])

    async def change(self, task_id: str, description: str) -> None:
        patched = await self._request("PATCH", f"{TASKS}/{task_id}", {"description": description})
        self.expect("patch", patched.status_code == 200, patched.status_code)

    async def read_back(self, task_id: str, description: str | None) -> None:
        one = await self._request("GET", f"{TASKS}/{task_id}")
        self.expect("get", one.status_code == 200, one.status_code)
        self.expect("get is current", one.json().get("description") == description, one.json())
        page = await self._request("GET", f"{TASKS}?limit=1")
        self.expect("list", page.status_code == 200, page.status_code)
        newest = page.json()["items"][0] if page.status_code == 200 else {}
        self.expect("list is current", newest.get("id") == task_id, newest.get("id"))
        self.expect("list item is current", newest.get("description") == description, newest)

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            n = len(self.round_ends)
            task_id = await self.create(f"check {n}")
            await self.read_back(task_id, None)
            await self.change(task_id, f"revision {n}")
            await self.read_back(task_id, f"revision {n}")
            self.round_ends.append(time.perf_counter())


def _cache_is(base_url: str, state: str) -> bool:
    checks: dict[str, object] = httpx.get(f"{base_url}/readyz", timeout=10).json()
    return checks.get("cache") == state


def _failed_redis_calls(base_url: str) -> float:
    """The service's count of Redis calls that failed (its /metrics)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "todo_cache_errors":
            return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    raise AssertionError("the service exports no todo_cache_errors")


@dataclass(frozen=True)
class Outage:
    """perf_counter instants: the fault began, took hold, was being lifted, and was lifted."""

    began: float
    held: float
    ended: float
    restored: float
    slowest_before: float  # the checker's slowest request before the outage
    writes_during: int  # the load's writes sent and answered while the outage held


async def _outage_under_load(
    fault: Fault, base_url: str, writer: TaskWriter, checker: Checker, stale: Checker
) -> Outage:
    stop = asyncio.Event()
    checking = asyncio.create_task(checker.loop(stop))
    cached = await stale.create("cached before the outage")
    await stale.read_back(cached, None)  # now in the cache
    await until(
        f"{ROUNDS} check rounds before the outage", lambda: len(checker.round_ends) >= ROUNDS
    )
    baseline = checker.longest_between(0.0, time.perf_counter())

    async def while_down() -> None:
        since = time.perf_counter()
        await stale.change(cached, "changed while Redis was down")
        await stale.read_back(cached, "changed while Redis was down")
        await until(
            f"{ROUNDS} check rounds while Redis was down",
            lambda: checker.rounds_since(since) >= ROUNDS,
        )

    try:
        run = await under_fault(
            base_url,
            writer,
            fault,
            COUNTS,
            rate=RATE,
            while_held=while_down,
            settled=lambda log, restored: (
                sum(a.due >= restored for a in log.answers) >= COUNTS.after
                and checker.rounds_since(restored) >= ROUNDS
            ),
        )
    finally:
        stop.set()
        await checking
    await until("the cache back", lambda: _cache_is(base_url, "ok"))
    await stale.read_back(cached, "changed while Redis was down")
    assert run.log.transport_errors == 0, run.log.transport_failures[:3]
    assert set(run.log.statuses) <= {200, 201}, f"writes failed: {run.log.statuses}"
    return Outage(run.began, run.held, run.ended, run.restored, baseline, len(run.during()))


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_redis_down_keeps_answers_correct_and_the_crowd_off_it(
    fault_servers: ServerSet, fault_env: ServiceEnv, topic_prefix: str, outage: str
) -> None:
    with Pipeline(fault_env, topic_prefix) as pipeline:
        base_url = pipeline.api.base_url
        writer = TaskWriter([register_user(base_url, "redis-fault") for _ in range(2)])
        checker_user = register_user(base_url, "redis-check")
        stale_user = register_user(base_url, "redis-stale")
        wait_until("the cache in use", lambda: _cache_is(base_url, "ok"))
        failed_before = _failed_redis_calls(base_url)

        async def scenario() -> tuple[Checker, Checker, Outage]:
            pool = HttpPool(base_url, size=POOL_SIZE)
            try:
                checker, stale = Checker(pool, checker_user), Checker(pool, stale_user)
                fault = OUTAGES[outage](fault_servers)
                return (
                    checker,
                    stale,
                    await _outage_under_load(fault, base_url, writer, checker, stale),
                )
            finally:
                await pool.close()

        checker, stale, run = asyncio.run(scenario())
        failed = _failed_redis_calls(base_url) - failed_before

    assert checker.problems == []
    assert stale.problems == []
    # While Redis was away, each breaker window that ended let one probe through.
    windows = math.ceil((run.restored - run.began) / REDIS_RETRY_AFTER_SECONDS) + 1
    requests = run.writes_during + sum(
        len(c.took_between(run.held, run.ended)) for c in (checker, stale)
    )
    # Without the breaker each of these requests would fail a Redis call: fewer would make the
    # bound below unable to fail.
    assert requests > IN_FLIGHT + windows, f"only {requests} requests while Redis was {outage}"
    assert failed <= IN_FLIGHT + windows, (
        f"{failed:.0f} Redis calls failed while Redis was {outage} ({windows} breaker windows, "
        f"{requests} requests): the breaker did not keep the crowd off it"
    )
    # Figures for the reader, not a bound: a busy machine makes any request slow.
    baseline = max(run.slowest_before, checker.longest_between(run.ended, float("inf")))
    print(
        f"Redis {outage} {run.ended - run.held:.1f}s: {failed:.0f} failed Redis calls in "
        f"{windows} windows; slowest request "
        f"{checker.longest_between(run.held, run.ended) * 1000:.0f} ms while down, "
        f"{baseline * 1000:.0f} ms with Redis up"
    )
