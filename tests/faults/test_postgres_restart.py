"""PostgreSQL is stopped under write load and started again.

What must hold: while it is down the API answers 503 (a server error must never come from an
outage), readiness is false, and afterwards everything recovers by itself (no restart of the API,
relay or consumer); the outbox promise holds throughout: no task without its event. The database
stays down until 150 writes were answered without it; the run ends once 300 writes sent after
it was back were answered. "Back" is proved by an answer, not a clock: the first write that
succeeded after the restart. Every write sent after that success arrived must succeed. Writes
merely sent after it may not: requests in flight race for connections while the server is still
starting, so one sent later can meet it before one sent earlier gets through.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.database import wait_handled
from bench.faults import QUICK_RECOVERY, RATE, Counts, postgres_stopped, under_fault
from bench.http import HttpPool
from bench.load import Answer, TaskWriter, WriteLog, register_user
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv, wait_until
from bench.servers import ServerSet
from tests.faults import checks

pytestmark = checks.SLOW_MACHINE_GUARD

COUNTS = Counts(before=200, during=150, after=300)
PROBES = 3
OK = {200, 201}


def _recovered(log: WriteLog, restored: float) -> list[Answer]:
    """The writes sent after one sent since the restart had succeeded (see the module's doc)."""
    back = min((a.at for a in log.answers if a.due >= restored and a.status in OK), default=None)
    return [] if back is None else [a for a in log.answers if a.due > back]


def _wall_clock(instant: float) -> str:
    """A perf_counter instant as UTC time of day, to find it in the servers' logs."""
    wall = time.time() - (time.perf_counter() - instant)
    return datetime.fromtimestamp(wall, UTC).strftime("%H:%M:%S.%f")[:-3]


def test_postgres_restart_answers_503_and_recovers(
    fault_servers: ServerSet, fault_env: ServiceEnv, topic_prefix: str
) -> None:
    probes: list[tuple[int, Any]] = []

    with Pipeline(fault_env, topic_prefix, **QUICK_RECOVERY) as pipeline:
        base_url = pipeline.api.base_url

        async def probe_readiness() -> None:
            pool = HttpPool(base_url, size=1)
            try:
                while len(probes) < PROBES:
                    ready = await pool.request("GET", "/readyz")
                    probes.append((ready.status_code, ready.json()))
            finally:
                await pool.close()

        writer = TaskWriter([register_user(base_url, "pg-fault") for _ in range(4)])
        run = asyncio.run(
            under_fault(
                base_url,
                writer,
                postgres_stopped(fault_servers),
                COUNTS,
                rate=RATE,
                while_held=probe_readiness,
                settled=lambda log, restored: len(_recovered(log, restored)) >= COUNTS.after,
            )
        )
        log = run.log

        assert log.transport_errors == 0, f"no answer: {log.transport_failures[:3]}"
        assert set(log.statuses) <= {200, 201, 503}, f"unexpected statuses: {log.statuses}"
        # Writes sent once the database was down can only fail (earlier ones may succeed).
        while_down = {a.status for a in run.during()}
        assert while_down == {503}, f"while down: {while_down}"
        assert len(probes) == PROBES
        assert all(code == 503 and body["database"] == "down" for code, body in probes), probes

        # Recovery by itself: nothing was restarted but PostgreSQL.
        wait_until("readiness", lambda: httpx.get(f"{base_url}/readyz").status_code == 200)
        after = _recovered(log, run.restored)
        failed = [a for a in after if a.status not in OK]
        assert not failed, (
            f"{len(failed)} of {len(after)} writes failed after recovery, the first due "
            f"{failed[0].due - run.restored:.2f}s after the restart returned at "
            f"{_wall_clock(run.restored)}; API log:\n{pipeline.api.log_tail()}\n"
            f"PostgreSQL log:\n{fault_servers.log_tail('postgres')}"
        )
        again = httpx.post(
            f"{base_url}/api/v1/tasks",
            json={"title": "after"},
            headers=writer.users[0].headers,
            timeout=10,
        )
        assert again.status_code == 201, again.text

        checks.assert_accepted_tasks_exist(fault_env.database_url, log)
        checks.assert_no_task_without_its_event(fault_env.database_url)
        wait_handled(fault_env.database_url, checks.EPOCH)
        checks.assert_stats_equal_tasks(fault_env.database_url)
        print(f"statuses {dict(log.statuses)}, {len(run.during())} answered while down")
