"""The guarantees the fault tests check, each stated once and used by every test that needs it.

Those that every path from the outbox to the handler keeps are in `bench.guarantees`, shared
with the benchmark's legs.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from bench.database import OutboxRow, libpq_url, outbox_since
from bench.guarantees import assert_applied_exactly_once as assert_applied_exactly_once
from bench.guarantees import assert_every_event_arrived as assert_every_event_arrived
from bench.guarantees import assert_order_per_task as assert_order_per_task
from bench.guarantees import duplicates as duplicates
from bench.load import TaskWriter, WriteLog

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Each fault test module's per-test guard (pytestmark): under a CPU hog on 2 cores a fault test
# outlasted the suite's 10-minute guard (pytest-timeout) while every check it makes still held.
SLOW_MACHINE_GUARD = pytest.mark.timeout(1800)


def all_outbox(database_url: str) -> list[OutboxRow]:
    return outbox_since(database_url, EPOCH)


def assert_outbox_holds_every_accepted_write(rows: list[OutboxRow], log: WriteLog) -> None:
    """Each write the API acknowledged has its event, in acknowledgement order; no extra ones."""
    recorded: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        recorded[str(row.task_id)].append(row.topic.removeprefix("task."))
    assert recorded == log.accepted, "outbox events differ from the writes the API acknowledged"


def assert_stats_match(base_url: str, writer: TaskWriter) -> None:
    """Stats, kept only by the event handler, equal the counts the accepted writes imply.

    A lost event leaves a count short; an event applied twice leaves one too high.
    """
    for user in writer.users:
        stats = httpx.get(f"{base_url}/api/v1/stats", headers=user.headers, timeout=10).json()
        assert stats == writer.expected_stats(user), f"stats of {user.username}"


def assert_no_task_without_its_event(database_url: str) -> None:
    """The outbox's promise: a task row never exists without its `task.created` event."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        orphans = conn.execute(
            "SELECT count(*) FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.task_id = t.id AND o.topic = 'task.created')"
        ).fetchone()
    assert orphans == (0,), f"{orphans} tasks have no task.created event in the outbox"


def assert_accepted_tasks_exist(database_url: str, log: WriteLog) -> None:
    """Every task whose creation the API acknowledged is in the database."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored = {str(r[0]) for r in conn.execute("SELECT id FROM tasks")}
    lost = set(log.accepted) - stored
    assert not lost, f"{len(lost)} acknowledged tasks are missing, e.g. {sorted(lost)[:3]}"


def assert_stats_equal_tasks(database_url: str) -> None:
    """Per user, the event-maintained stats equal the counts of the tasks table itself."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        truth = {
            (r[0], r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT user_id, count(*), count(*) FILTER (WHERE status = 'pending'), "
                "count(*) FILTER (WHERE status = 'completed') FROM tasks GROUP BY user_id"
            )
        }
        stats = {
            (r[0], r[1], r[2], r[3])
            for r in conn.execute("SELECT user_id, total, pending, completed FROM user_stats")
        }
    assert stats == truth
