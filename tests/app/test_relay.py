"""The relay against the real Kafka: delivery, marking, ordering, two relays, broker outages."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.breaker import Breaker
from app.cache import TaskCache
from app.core.config import Settings
from app.events import outbox
from app.events.outbox import PendingEvent, waves
from app.events.relay import KafkaPublisher, Relay
from app.events.wakeup import CHANNEL, OutboxWakeup
from app.main import create_app
from app.metrics import Metrics
from app.models import OutboxEvent, User
from app.runtime import Runtime
from app.schemas import TaskCreate, TaskUpdate
from app.services.tasks import TaskService
from tests.app.conftest import make_settings
from tests.app.helpers import create_task, dead_port, read_events, register, value


def make_events(sessions: sessionmaker[Session], tasks: int, updates: int) -> int:
    """Create ``tasks`` tasks and update each ``updates`` times; returns the event count."""
    with sessions() as session:
        user = User(username=f"u-{uuid.uuid4().hex[:8]}", password_hash="x")
        session.add(user)
        session.commit()
        service = TaskService(
            session,
            TaskCache(None, Breaker("redis", 1.0, ()), prefix="", ttl_seconds=1),
            user_id=user.id,
            event_source="/test",
            request_id=None,
        )
        ids = [service.create(TaskCreate(title=f"task {i}")).id for i in range(tasks)]
        for round_ in range(updates):
            for task_id in ids:
                service.update(task_id, TaskUpdate(title=f"round {round_}"))
    return tasks * (updates + 1)


def make_relay(
    sessions: sessionmaker[Session],
    bootstrap: str,
    prefix: str,
    *,
    batch_size: int = 1000,
    timeout_ms: int = 30_000,
) -> tuple[Relay, Metrics]:
    metrics = Metrics()
    publisher = KafkaPublisher(bootstrap, topic_prefix=prefix, message_timeout_ms=timeout_ms)
    relay = Relay(
        sessions,
        publisher,
        metrics,
        batch_size=batch_size,
        idle_seconds=0.05,
        max_backoff_seconds=0.5,
    )
    return relay, metrics


def drain(relay: Relay) -> int:
    published = 0
    while True:
        done, failed = relay.run_once()
        assert failed == 0
        if done == 0:
            return published
        published += done


def outbox_order(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """Event ids per task, in outbox (commit) order."""
    order: dict[str, list[str]] = defaultdict(list)
    with sessions() as session:
        for task_id, event_id in session.execute(
            select(OutboxEvent.task_id, OutboxEvent.event_id).order_by(OutboxEvent.id)
        ):
            order[str(task_id)].append(str(event_id))
    return order


def assert_order_kept(messages: list, sessions: sessionmaker[Session]) -> None:
    """Per task: within a topic, offsets follow the outbox; across topics, so do append times."""
    expected = outbox_order(sessions)
    position = {event_id: i for ids in expected.values() for i, event_id in enumerate(ids)}
    by_topic: dict[tuple[str, str], list[str]] = defaultdict(list)
    appended: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for message in messages:  # consumed in offset order within each partition
        task, event_id = message.key().decode(), value(message)["id"]
        by_topic[(task, message.topic())].append(event_id)
        appended[task].append((message.timestamp()[1], event_id))
    for ids in by_topic.values():
        assert ids == sorted(ids, key=position.__getitem__), "reordered within a partition"
    for task, stamps in appended.items():
        in_outbox_order = sorted(stamps, key=lambda stamp: position[stamp[1]])
        times = [time for time, _ in in_outbox_order]
        assert times == sorted(times), f"task {task}: a later event landed before an earlier one"
        assert sorted(e for _, e in stamps) == sorted(expected[task])


def read_while_running(workers: list[Any], bootstrap: str, prefix: str, count: int) -> list[Any]:
    """Run the workers (relays, pruners) in threads until ``count`` events were read."""
    stop = threading.Event()
    threads = [threading.Thread(target=worker.run, args=(stop,)) for worker in workers]
    for thread in threads:
        thread.start()
    try:
        return read_events(bootstrap, prefix, count, timeout=90)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def assert_published_once(messages: list[Any], count: int) -> None:
    ids = [value(m)["id"] for m in messages]
    assert len(ids) == count
    assert len(set(ids)) == count, "an event was published twice"


def pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return outbox.backlog(session).count


def test_relay_publishes_every_event_as_a_keyed_cloudevent_and_marks_it(
    sessions: sessionmaker[Session], kafka_bootstrap: str, topic_prefix: str
) -> None:
    count = make_events(sessions, tasks=20, updates=2)
    relay, metrics = make_relay(sessions, kafka_bootstrap, topic_prefix, batch_size=25)

    assert drain(relay) == count
    assert pending(sessions) == 0
    messages = read_events(kafka_bootstrap, topic_prefix, count)
    assert len(messages) == count
    with sessions() as session:
        stored = {str(r.event_id): r for r in session.scalars(select(OutboxEvent))}
    for message in messages:
        event = value(message)
        row = stored[event["id"]]
        assert message.topic() == topic_prefix + row.topic
        assert message.key().decode() == event["subject"] == str(row.task_id)
        assert message.value().decode() == row.payload
        assert row.published_at is not None
    assert_order_kept(messages, sessions)
    created = metrics.registry.get_sample_value(
        "todo_events_published_total", {"topic": "task.created"}
    )
    assert created == 20


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_relays_never_publish_twice_and_keep_order_per_task(
    sessions: sessionmaker[Session], kafka_bootstrap: str, topic_prefix: str
) -> None:
    count = make_events(sessions, tasks=100, updates=5)
    relays = [make_relay(sessions, kafka_bootstrap, topic_prefix, batch_size=40)[0] for _ in "ab"]
    messages = read_while_running(relays, kafka_bootstrap, topic_prefix, count)
    assert_published_once(messages, count)
    assert_order_kept(messages, sessions)
    assert pending(sessions) == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_claim_skips_tasks_whose_earlier_event_another_relay_holds(
    sessions: sessionmaker[Session],
) -> None:
    make_events(sessions, tasks=3, updates=2)
    with sessions() as holder, holder.begin():
        held = outbox.claim(holder, 1)  # relay A holds the first event of the first task
        with sessions() as other, other.begin():
            claimed = outbox.claim(other, 100)
        held_task = held[0].task_id
        assert claimed, "other tasks' events are claimable"
        assert all(e.task_id != held_task for e in claimed)
        assert len(claimed) == 6
    with sessions() as other, other.begin():
        assert len(outbox.claim(other, 100)) == 9


def test_deliverable_prefix_stops_each_task_at_its_first_failure() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [PendingEvent(i, "task.updated", task, "{}") for i, task in enumerate([a, b, a, b, a])]
    marked = outbox.deliverable_prefix(events, delivered={0, 1, 3, 4})
    # Task a: 0 delivered, 2 failed, so 4 waits (it would otherwise overtake 2). Task b: all.
    assert [e.id for e in marked] == [0, 1, 3]


def test_waves_hold_one_event_per_task_in_order_up_to_the_cap() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [PendingEvent(i, "task.updated", task, "{}") for i, task in enumerate([a, a, b, a])]
    assert [[e.id for e in wave] for wave in waves(events, limit=2)] == [[0, 2], [1]]
    assert [[e.id for e in wave] for wave in waves(events, limit=5)] == [[0, 2], [1], [3]]


def test_broker_down_keeps_every_event_then_publishes_them(
    sessions: sessionmaker[Session], kafka_bootstrap: str, topic_prefix: str
) -> None:
    count = make_events(sessions, tasks=5, updates=1)
    down, down_metrics = make_relay(
        sessions, f"127.0.0.1:{dead_port()}", topic_prefix, timeout_ms=1000
    )
    assert down.run_once() == (0, count)
    assert pending(sessions) == count
    failed = down_metrics.registry.get_sample_value(
        "todo_events_publish_failed_total", {"topic": "task.created"}
    )
    assert failed == 5

    up, _ = make_relay(sessions, kafka_bootstrap, topic_prefix)
    assert drain(up) == count
    messages = read_events(kafka_bootstrap, topic_prefix, count)
    assert len({value(m)["id"] for m in messages}) == count
    assert_order_kept(messages, sessions)


def test_relay_loop_backs_off_while_the_broker_is_away_and_stops_on_request(
    sessions: sessionmaker[Session], topic_prefix: str
) -> None:
    make_events(sessions, tasks=2, updates=0)
    relay, metrics = make_relay(sessions, f"127.0.0.1:{dead_port()}", topic_prefix, timeout_ms=1000)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    stop.wait(3)
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert pending(sessions) == 2
    failed = metrics.registry.get_sample_value(
        "todo_events_publish_failed_total", {"topic": "task.created"}
    )
    assert failed == 2, "one failed batch, then probing the broker without claiming rows"


def test_serve_can_run_the_relay_in_process(
    settings: Settings, kafka_bootstrap: str, topic_prefix: str
) -> None:
    local = settings.model_copy(
        update={
            "relay_in_process": True,
            "kafka_bootstrap_servers": kafka_bootstrap,
            "kafka_topic_prefix": topic_prefix,
        }
    )
    with TestClient(create_app(local)) as client:
        task = create_task(client, register(client))
        messages = read_events(kafka_bootstrap, topic_prefix, 1)
    assert [value(m)["subject"] for m in messages] == [task["id"]]
    assert [m.topic() for m in messages] == [f"{topic_prefix}task.created"]


def _relay_on_postgres(
    new_postgres: Callable[..., str], kafka_bootstrap: str, topic_prefix: str, **overrides: Any
) -> Runtime:
    settings = make_settings(
        new_postgres(),
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        **overrides,
    )
    return Runtime.open(settings, Metrics())


def _seconds_to_publish(runtime: Runtime, relay: Relay) -> float:
    """Runs the relay loop, commits one event once it idles, and times its publication."""
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        stop.wait(1.0)  # the first poll found nothing: the relay now pauses for the idle time
        make_events(runtime.sessions, tasks=1, updates=0)
        committed = time.monotonic()
        while pending(runtime.sessions) and time.monotonic() - committed < 90:
            stop.wait(0.01)
        return time.monotonic() - committed
    finally:
        stop.set()
        thread.join(timeout=15)
        runtime.close()


def test_a_commit_wakes_the_idle_relay_instead_of_its_next_poll(
    new_postgres: Callable[..., str], kafka_bootstrap: str, topic_prefix: str
) -> None:
    runtime = _relay_on_postgres(
        new_postgres, kafka_bootstrap, topic_prefix, relay_idle_seconds=60.0
    )
    relay = runtime.relay()
    # Half the idle pause: a generous guard that only a poll-driven publication can miss.
    assert _seconds_to_publish(runtime, relay) < 30.0, "published at the poll, not at the commit"


def test_without_its_wake_up_connection_the_relay_still_polls(
    new_postgres: Callable[..., str], kafka_bootstrap: str, topic_prefix: str
) -> None:
    runtime = _relay_on_postgres(new_postgres, kafka_bootstrap, topic_prefix)
    publisher = KafkaPublisher(
        kafka_bootstrap, topic_prefix=topic_prefix, message_timeout_ms=30_000
    )
    unreachable = OutboxWakeup(f"postgresql://todo@127.0.0.1:{dead_port()}/todo", connect_timeout=1)
    relay = Relay(
        runtime.sessions,
        publisher,
        runtime.metrics,
        batch_size=100,
        idle_seconds=0.2,
        max_backoff_seconds=0.5,
        wakeup=unreachable,
    )
    assert _seconds_to_publish(runtime, relay) < 30.0, "the relay stopped polling"


INSERT_EVENT = (
    "INSERT INTO outbox (event_id, topic, task_id, payload, created_at)"
    " VALUES (gen_random_uuid(), 'task.created', gen_random_uuid(), '{}', now())"
)


def test_the_outbox_notifies_at_commit_and_never_for_a_rollback(
    new_postgres: Callable[..., str],
) -> None:
    libpq = new_postgres().replace("postgresql+psycopg://", "postgresql://", 1)
    with (
        psycopg.connect(libpq, autocommit=True) as listener,
        psycopg.connect(libpq) as writer,
    ):
        listener.execute(f"LISTEN {CHANNEL}")
        writer.execute(INSERT_EVENT)
        assert list(listener.notifies(timeout=0.5)) == [], "notified before the commit"
        writer.rollback()
        assert list(listener.notifies(timeout=0.5)) == [], "notified for a rollback"
        writer.execute(INSERT_EVENT)
        writer.execute(INSERT_EVENT)
        writer.commit()
        notified = list(listener.notifies(timeout=1.0))
    assert [n.channel for n in notified] == [CHANNEL], "one notification per transaction"


def test_a_drained_wake_up_waits_for_the_next_commit(new_postgres: Callable[..., str]) -> None:
    """What the relay drains while events flow no longer ends its next pause at rest."""
    libpq = new_postgres().replace("postgresql+psycopg://", "postgresql://", 1)
    wakeup = OutboxWakeup(libpq, connect_timeout=5)
    stop = threading.Event()
    try:
        wakeup.wait(stop, 0.01)  # listening from here on
        with psycopg.connect(libpq) as writer:
            for _ in range(3):
                writer.execute(INSERT_EVENT)
                writer.commit()
            drained, deadline = 0, time.monotonic() + 60  # a guard against a hang only
            while drained < 3 and time.monotonic() < deadline:
                drained += wakeup.drain()
            assert drained == 3, "one notification per committed transaction"
            started = time.monotonic()
            wakeup.wait(stop, 0.3)
            assert time.monotonic() - started >= 0.3, "woken by a notification already drained"
            writer.execute(INSERT_EVENT)
            writer.commit()
            started = time.monotonic()
            wakeup.wait(stop, 60.0)
            assert time.monotonic() - started < 30.0, "the next commit did not wake it"
    finally:
        wakeup.close()
