"""The stats handler (idempotent, order-free) and the native Kafka consumer, end to end."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Producer
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db import make_engine, make_sessions
from app.events.cloudevents import EventKind, TaskEvent
from app.events.consumer import StatsConsumer
from app.events.handler import Outcome, StatsHandler
from app.main import create_app
from app.metrics import Metrics
from app.models import ProcessedEvent, TaskPriority, TaskStatus
from app.schemas import Stats, TaskPublic
from tests.app.conftest import make_settings
from tests.app.helpers import create_task, dead_port, register
from tests.app.test_relay import make_relay


def event(
    kind: EventKind,
    user_id: uuid.UUID,
    task_id: uuid.UUID,
    status: TaskStatus,
    previous: TaskStatus | None = None,
) -> TaskEvent:
    now = datetime.now(UTC)
    task = TaskPublic(
        id=task_id,
        title="t",
        description=None,
        status=status,
        priority=TaskPriority.LOW,
        due_date=None,
        tags=[],
        created_at=now,
        updated_at=now,
        completed_at=None,
    )
    return TaskEvent.about(
        kind, task=task, user_id=user_id, source="/test", request_id="r1", previous_status=previous
    )


def stats(handler: StatsHandler, sessions: sessionmaker[Session], user_id: uuid.UUID) -> Stats:
    with sessions() as session:
        return handler.stats(session, user_id)


def lifecycle(user_id: uuid.UUID) -> list[TaskEvent]:
    """Two tasks: one created and completed, one created, reopened after completion, deleted."""
    a, b = uuid.uuid4(), uuid.uuid4()
    P, C = TaskStatus.PENDING, TaskStatus.COMPLETED  # noqa: N806
    return [
        event(EventKind.CREATED, user_id, a, P),
        event(EventKind.CREATED, user_id, b, C),
        event(EventKind.COMPLETED, user_id, a, C, previous=P),
        event(EventKind.UPDATED, user_id, b, P, previous=C),
        event(EventKind.UPDATED, user_id, b, P, previous=P),
        event(EventKind.DELETED, user_id, b, P),
    ]


def test_handler_counts_a_lifecycle(sessions: sessionmaker[Session]) -> None:
    handler, user = StatsHandler(sessions, Metrics()), uuid.uuid4()
    outcomes = [handler.handle(e) for e in lifecycle(user)]
    assert outcomes == [Outcome.APPLIED] * 6
    assert stats(handler, sessions, user) == Stats(total=1, pending=0, completed=1)


def test_the_same_event_twice_counts_once(sessions: sessionmaker[Session]) -> None:
    metrics = Metrics()
    handler, user = StatsHandler(sessions, metrics), uuid.uuid4()
    created = event(EventKind.CREATED, user, uuid.uuid4(), TaskStatus.PENDING)
    assert handler.handle(created) is Outcome.APPLIED
    assert handler.handle(created) is Outcome.DUPLICATE
    assert handler.handle(TaskEvent.model_validate_json(created.to_json())) is Outcome.DUPLICATE
    assert stats(handler, sessions, user) == Stats(total=1, pending=1, completed=0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1
    sample = metrics.registry.get_sample_value
    assert sample("todo_events_consumed_total", {"outcome": "duplicate"}) == 2


def test_delivery_order_does_not_change_the_counts(sessions: sessionmaker[Session]) -> None:
    handler, user = StatsHandler(sessions, Metrics()), uuid.uuid4()
    for e in reversed(lifecycle(user)):
        handler.handle(e)
    assert stats(handler, sessions, user) == Stats(total=1, pending=0, completed=1)


def test_database_away_is_retry_and_leaves_no_trace(sessions: sessionmaker[Session]) -> None:
    away = make_settings(f"postgresql+psycopg://todo:todo@127.0.0.1:{dead_port()}/todo")
    engine = make_engine(away)
    handler = StatsHandler(make_sessions(engine), Metrics())
    created = event(EventKind.CREATED, uuid.uuid4(), uuid.uuid4(), TaskStatus.PENDING)
    assert handler.handle(created) is Outcome.RETRY
    engine.dispose()
    # The same event later, with the database back, is applied (not taken for a duplicate).
    assert StatsHandler(sessions, Metrics()).handle(created) is Outcome.APPLIED


def wait_for(check: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_api_to_stats_through_kafka_and_a_redelivery_changes_nothing(
    settings: Settings, sessions: sessionmaker[Session], kafka_bootstrap: str, topic_prefix: str
) -> None:
    # The cluster's shape: a broker, and the relay and consumer run outside `serve`.
    cluster = settings.model_copy(
        update={"kafka_bootstrap_servers": kafka_bootstrap, "kafka_topic_prefix": topic_prefix}
    )
    with TestClient(create_app(cluster)) as client:
        headers = register(client)
        tasks = [create_task(client, headers, title=f"t{i}") for i in range(4)]
        client.post(f"/api/v1/tasks/{tasks[0]['id']}/complete", headers=headers)
        client.delete(f"/api/v1/tasks/{tasks[1]['id']}", headers=headers)
        assert client.get("/api/v1/stats", headers=headers).json() == {
            "total": 0,
            "pending": 0,
            "completed": 0,
        }, "stats come from events, not from the tasks table"
        relay, _ = make_relay(sessions, kafka_bootstrap, topic_prefix)
        assert relay.run_once() == (6, 0)

        metrics = Metrics()
        handler = StatsHandler(sessions, metrics)
        applied = lambda: metrics.registry.get_sample_value(  # noqa: E731
            "todo_events_consumed_total", {"outcome": "applied"}
        )
        expected = {"total": 3, "pending": 2, "completed": 1}
        for group, outcome in (("stats", "applied"), ("stats-replay", "duplicate")):
            consumer = StatsConsumer(
                handler,
                bootstrap_servers=kafka_bootstrap,
                group_id=f"{topic_prefix}{group}",
                topic_prefix=topic_prefix,
            )
            stop = threading.Event()
            thread = threading.Thread(target=consumer.run, args=(stop,))
            thread.start()
            try:
                wait_for(
                    lambda o=outcome: (
                        metrics.registry.get_sample_value(
                            "todo_events_consumed_total", {"outcome": o}
                        )
                        == 6
                    )
                )
            finally:
                stop.set()
                thread.join(timeout=30)
            assert client.get("/api/v1/stats", headers=headers).json() == expected
        assert applied() == 6


def test_native_consumer_drops_a_malformed_message_and_goes_on(
    sessions: sessionmaker[Session], kafka_bootstrap: str, topic_prefix: str
) -> None:
    user = uuid.uuid4()
    created = event(EventKind.CREATED, user, uuid.uuid4(), TaskStatus.PENDING)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    topic = topic_prefix + EventKind.CREATED.topic
    producer.produce(topic, value=b"{not json", key=b"k")
    producer.produce(topic, value=created.to_json().encode(), key=b"k")
    assert producer.flush(30) == 0

    metrics = Metrics()
    handler = StatsHandler(sessions, metrics)
    consumer = StatsConsumer(
        handler,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic_prefix}stats",
        topic_prefix=topic_prefix,
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_for(
            lambda: (
                metrics.registry.get_sample_value(
                    "todo_events_consumed_total", {"outcome": "applied"}
                )
                == 1
            )
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    drops = metrics.registry.get_sample_value("todo_events_consumed_total", {"outcome": "drop"})
    assert drops == 1
    assert stats(handler, sessions, user) == Stats(total=1, pending=1, completed=0)
