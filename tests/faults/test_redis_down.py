"""Redis is stopped while the API serves writes and cached reads, then started again.

What must hold: every answer stays correct: no error, and every read shows the latest write,
before, during and after the outage; including a task cached before the outage and changed
during it (the invalidation that could not reach Redis must not let the old entry come back).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.http import HttpPool
from bench.load import TaskWriter, User, WriteLog, register_user, steady_writes
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv
from bench.servers import ServerSet

RATE = 100.0
COUNT = 900  # 9 s of background writes
STOP_AFTER_S = 2.0
DOWN_FOR_S = 3.0
# The cache leaves a failed Redis alone for 2 s before trying it again (app.cache).
AFTER_RECOVERY_S = 3.0
TASKS = "/api/v1/tasks"


class Checker:
    """Write, then read back through the cache, and note every answer that is not right."""

    def __init__(self, pool: HttpPool, user: User) -> None:
        self.pool = pool
        self.headers = user.headers
        self.problems: list[str] = []
        self.rounds = 0

    def expect(self, what: str, ok: bool, got: Any) -> None:
        if not ok:
            self.problems.append(f"{what}: {got}")

    async def create(self, title: str) -> str:
        created = await self.pool.request("POST", TASKS, {"title": title}, self.headers)
        self.expect("create", created.status_code == 201, created.status_code)
        return str(created.json()["id"])

    async def change(self, task_id: str, description: str) -> None:
        patched = await self.pool.request(
            "PATCH", f"{TASKS}/{task_id}", {"description": description}, self.headers
        )
        self.expect("patch", patched.status_code == 200, patched.status_code)

    async def read_back(self, task_id: str, description: str | None) -> None:
        one = await self.pool.request("GET", f"{TASKS}/{task_id}", None, self.headers)
        self.expect("get", one.status_code == 200, one.status_code)
        self.expect("get is current", one.json().get("description") == description, one.json())
        page = await self.pool.request("GET", f"{TASKS}?limit=1", None, self.headers)
        self.expect("list", page.status_code == 200, page.status_code)
        newest = page.json()["items"][0] if page.status_code == 200 else {}
        self.expect("list is current", newest.get("id") == task_id, newest.get("id"))
        self.expect("list item is current", newest.get("description") == description, newest)

    async def loop(self, until: float) -> None:
        while time.perf_counter() < until:
            task_id = await self.create(f"check {self.rounds}")
            await self.read_back(task_id, None)
            await self.change(task_id, f"revision {self.rounds}")
            await self.read_back(task_id, f"revision {self.rounds}")
            self.rounds += 1


async def _stop_redis_under_load(
    servers: ServerSet, base_url: str, writer: TaskWriter, checker_user: User, stale_user: User
) -> tuple[WriteLog, Checker, Checker]:
    pool = HttpPool(base_url, size=4)
    checker, stale = Checker(pool, checker_user), Checker(pool, stale_user)
    load = asyncio.create_task(steady_writes(base_url, writer, RATE, COUNT))
    until = time.perf_counter() + STOP_AFTER_S + DOWN_FOR_S + AFTER_RECOVERY_S + 1
    checking = asyncio.create_task(checker.loop(until))
    try:
        cached = await stale.create("cached before the outage")
        await stale.read_back(cached, None)  # now in the cache
        await asyncio.sleep(STOP_AFTER_S)
        try:
            await asyncio.to_thread(servers.stop, "redis")
            await asyncio.sleep(DOWN_FOR_S / 2)
            await stale.change(cached, "changed while Redis was down")
            await stale.read_back(cached, "changed while Redis was down")
            await asyncio.sleep(DOWN_FOR_S / 2)
        finally:
            await asyncio.to_thread(servers.start, "redis")
        await asyncio.sleep(AFTER_RECOVERY_S)
        await stale.read_back(cached, "changed while Redis was down")
        await checking
        return await load, checker, stale
    finally:
        await pool.close()


def test_redis_down_keeps_answers_correct(
    fault_servers: ServerSet, fault_env: ServiceEnv, topic_prefix: str
) -> None:
    with Pipeline(fault_env, topic_prefix) as pipeline:
        base_url = pipeline.api.base_url
        writer = TaskWriter([register_user(base_url, "redis-fault") for _ in range(2)])
        checker_user = register_user(base_url, "redis-check")
        stale_user = register_user(base_url, "redis-stale")
        log, checker, stale = asyncio.run(
            _stop_redis_under_load(fault_servers, base_url, writer, checker_user, stale_user)
        )

    assert log.transport_errors == 0, log.transport_failures[:3]
    assert set(log.statuses) <= {200, 201}, f"writes failed: {log.statuses}"
    assert checker.rounds >= 10, f"only {checker.rounds} rounds of checks ran"
    assert checker.problems == []
    assert stale.problems == []
    print(f"{checker.rounds} write/read-back rounds, background writes {dict(log.statuses)}")
