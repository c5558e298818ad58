"""Debezium (bench.debezium: Kafka Connect, the PostgreSQL connector and the outbox EventRouter)
publishes the outbox as `todo-api relay` does: the same topics, keys and values (the CloudEvent,
byte for byte), no headers, and each task's events in commit order.

Both read one outbox, one after the other: Debezium from the WAL while the rows are committed,
then the relay, under another topic prefix. PostgreSQL is a private server of
`scripts/services` (its PostgreSQL only, on a free port), so the test sees the `wal_level` the
script sets today whatever the shared development server was started with; Kafka is the shared
one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from app.events.cloudevents import EventKind, TaskEvent
from bench.database import (
    INSERT_OUTBOX,
    OutboxRow,
    backlog,
    libpq_url,
    outbox_row,
    outbox_since,
    sample_task,
)
from bench.debezium import KafkaConnect
from bench.guarantees import assert_order_per_task
from bench.observer import KafkaObserver, Seen
from bench.processes import ServiceEnv, migrate, relay_process, wait_until
from bench.servers import private_servers
from bench.topics import create_topics, delete_topics, task_topics

TASKS = 3
# Each task's events, committed one transaction each, in this order.
LIFE = (EventKind.CREATED, EventKind.UPDATED, EventKind.UPDATED, EventKind.COMPLETED)


@pytest.fixture(scope="module")
def logical_env(kafka_bootstrap: str) -> Iterator[ServiceEnv]:
    with private_servers("todo-debezium-", "postgres") as servers:
        env = ServiceEnv(
            database_url=servers.env().database_url, redis_url=None, kafka_bootstrap=kafka_bootstrap
        )
        migrate(env)
        yield env


@pytest.fixture
def prefixes(kafka_bootstrap: str) -> Iterator[tuple[str, str]]:
    """Debezium's and the relay's topic prefixes, their topics created."""
    run = uuid.uuid4().hex[:8]
    pair = (f"debezium-{run}.", f"relay-{run}.")
    topics = [topic for prefix in pair for topic in task_topics(prefix)]
    create_topics(kafka_bootstrap, topics)
    yield pair
    delete_topics(kafka_bootstrap, topics)


def _commit_lives(database_url: str) -> None:
    """TASKS tasks, each through LIFE, interleaved; one transaction per event, as the API's."""
    user_id = uuid.uuid4()
    tasks = [sample_task(i) for i in range(TASKS)]
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for kind in LIFE:
            for task in tasks:
                event = TaskEvent.about(
                    kind, task=task, user_id=user_id, source="/todo-api", request_id=None
                )
                conn.execute(INSERT_OUTBOX, outbox_row(event))


def _observed(bootstrap: str, prefix: str, rows: list[OutboxRow]) -> KafkaObserver:
    """Everything on the prefix's topics, read until every row's event is there."""
    wanted = {row.event_id for row in rows}
    with KafkaObserver(bootstrap, task_topics(prefix)) as observer:
        wait_until(f"every event on {prefix}*", lambda: wanted <= observer.event_ids())
    return observer


def _as_published(seen: Seen, prefix: str) -> tuple[str, bytes | None, bytes, tuple[object, ...]]:
    return (seen.topic.removeprefix(prefix), seen.key, seen.value, seen.headers)


def test_debezium_publishes_what_the_relay_does_in_commit_order_per_task(
    logical_env: ServiceEnv, prefixes: tuple[str, str], tmp_path: Path
) -> None:
    assert logical_env.kafka_bootstrap is not None
    cdc, relayed = prefixes
    since = datetime.now(UTC)
    with KafkaConnect(logical_env, cdc, tmp_path / "connect") as connect:
        _commit_lives(logical_env.database_url)
        rows = outbox_since(logical_env.database_url, since)
        assert len(rows) == TASKS * len(LIFE)
        by_debezium = _observed(logical_env.kafka_bootstrap, cdc, rows)
    assert not connect.slot_exists(), "the stopped worker left its replication slot behind"

    relay = relay_process(logical_env, TODO_KAFKA_TOPIC_PREFIX=relayed)
    with relay:
        wait_until("the relay to drain the outbox", lambda: backlog(logical_env.database_url) == 0)
    by_relay = _observed(logical_env.kafka_bootstrap, relayed, rows)

    debezium_copies = {seen.event_id: seen for seen in by_debezium.seen()}
    relay_copies = {seen.event_id: seen for seen in by_relay.seen()}
    assert len(by_debezium.seen()) == len(rows), "Debezium published a row twice or a stranger"
    for row in rows:
        published = _as_published(debezium_copies[row.event_id], cdc)
        assert published == _as_published(relay_copies[row.event_id], relayed)
        assert published == (row.topic, str(row.task_id).encode(), row.payload.encode(), ())
    assert_order_per_task(by_debezium, rows)
