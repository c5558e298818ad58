"""PostgreSQL is stopped under write load and started again.

What must hold: while it is down the API answers 503 (a server error must never come from an
outage), readiness is false, and afterwards everything recovers by itself (no restart of the API,
relay or consumer); the outbox promise holds throughout: no task without its event.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.database import wait_handled
from bench.http import HttpPool
from bench.load import TaskWriter, WriteLog, register_user, steady_writes
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv, wait_until
from bench.servers import ServerSet
from tests.faults import checks

RATE = 100.0
COUNT = 1_000  # 10 s of writes
STOP_AFTER_S = 2.0
DOWN_FOR_S = 3.0
SETTINGS = {"TODO_RELAY_MAX_BACKOFF_SECONDS": "2", "TODO_RELAY_IDLE_SECONDS": "0.05"}


async def _restart_under_load(
    servers: ServerSet, base_url: str, writer: TaskWriter
) -> tuple[WriteLog, list[tuple[int, Any]], float, float]:
    load = asyncio.create_task(steady_writes(base_url, writer, RATE, COUNT))
    probes: list[tuple[int, Any]] = []
    await asyncio.sleep(STOP_AFTER_S)
    pool = HttpPool(base_url, size=1)
    try:
        await asyncio.to_thread(servers.stop, "postgres")
        stopped = time.perf_counter()
        while time.perf_counter() - stopped < DOWN_FOR_S:
            ready = await pool.request("GET", "/readyz")
            probes.append((ready.status_code, ready.json()))
            await asyncio.sleep(0.5)
        starting = time.perf_counter()
    finally:
        await pool.close()
        await asyncio.to_thread(servers.start, "postgres")
    return await load, probes, stopped, starting


def test_postgres_restart_answers_503_and_recovers(
    fault_servers: ServerSet, fault_env: ServiceEnv, topic_prefix: str
) -> None:
    with Pipeline(fault_env, topic_prefix, **SETTINGS) as pipeline:
        base_url = pipeline.api.base_url
        writer = TaskWriter([register_user(base_url, "pg-fault") for _ in range(4)])
        log, probes, stopped, starting = asyncio.run(
            _restart_under_load(fault_servers, base_url, writer)
        )

        assert log.transport_errors == 0, f"no answer: {log.transport_failures[:3]}"
        assert set(log.statuses) <= {200, 201, 503}, f"unexpected statuses: {log.statuses}"
        while_down = log.statuses_between(stopped + 0.5, starting)
        assert while_down, "no write was answered while the database was down"
        assert set(while_down) == {503}, f"while down: {while_down}"
        assert probes, "readiness was never probed while the database was down"
        assert all(code == 503 and body["database"] == "down" for code, body in probes), probes

        # Recovery by itself: nothing was restarted but PostgreSQL.
        wait_until("readiness", lambda: httpx.get(f"{base_url}/readyz").status_code == 200, 30)
        user = writer.users[0]
        again = httpx.post(
            f"{base_url}/api/v1/tasks", json={"title": "after"}, headers=user.headers, timeout=10
        )
        assert again.status_code == 201, again.text
        # Two seconds for the server to start and the pool to reconnect; then every write works.
        after_restart = log.statuses_between(starting + 2.0, float("inf"))
        assert after_restart, "no write was answered after the restart"
        assert set(after_restart) <= {200, 201}, f"after the restart: {after_restart}"

        checks.assert_accepted_tasks_exist(fault_env.database_url, log)
        checks.assert_no_task_without_its_event(fault_env.database_url)
        wait_handled(fault_env.database_url, checks.EPOCH, timeout=60)
        checks.assert_stats_equal_tasks(fault_env.database_url)
        print(f"statuses {dict(log.statuses)}, while down {dict(while_down)}")
