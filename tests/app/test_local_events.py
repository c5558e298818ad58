"""The embedded default (no broker) processes its own events, on PostgreSQL and SQLite: `serve`
drains the outbox through the relay into the stats handler, so /api/v1/stats is true and the
backlog returns to zero."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.db import make_engine, make_sessions
from app.events import outbox
from app.events.cloudevents import EventKind
from app.events.handler import StatsHandler
from app.events.local import LocalPublisher
from app.events.outbox import PendingEvent
from app.events.relay import Relay
from app.main import create_app
from app.metrics import Metrics
from app.models import ProcessedEvent, TaskStatus
from app.runtime import Runtime
from tests.app.conftest import make_settings
from tests.app.helpers import create_task, dead_port, register
from tests.app.test_consumer import event

# A guard against a hang, not a speed requirement: the loops end on counts.
GUARD_SECONDS = 120.0


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not reached within the {GUARD_SECONDS:.0f}s guard"
        time.sleep(0.05)


def _backlog(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return outbox.backlog(session).count


def _processed(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0


def test_without_a_broker_serve_applies_every_event_to_the_stats(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    assert settings.kafka_bootstrap_servers is None
    assert not settings.relay_in_process
    with TestClient(create_app(settings)) as client:
        alice, bob = register(client), register(client)
        tasks = [create_task(client, alice, title=f"t{i}") for i in range(30)]
        for task in tasks[:10]:
            client.post(f"/api/v1/tasks/{task['id']}/complete", headers=alice)
        for task in tasks[5:12]:
            client.delete(f"/api/v1/tasks/{task['id']}", headers=alice)
        for task in tasks[20:25]:
            client.patch(f"/api/v1/tasks/{task['id']}", json={"title": "x"}, headers=alice)
        create_task(client, bob)
        events = 30 + 10 + 7 + 5 + 1
        # Applied first, marked published after: the backlog reaches 0 a moment later.
        _wait_until(lambda: _processed(sessions) == events and _backlog(sessions) == 0)
        # tasks 0-4 completed and kept, 5-9 completed and deleted, 10-11 pending and deleted.
        expected = {"total": 23, "pending": 18, "completed": 5}
        assert client.get("/api/v1/stats", headers=alice).json() == expected
        assert client.get("/api/v1/stats", headers=bob).json() == {
            "total": 1,
            "pending": 1,
            "completed": 0,
        }
        wanted = {
            'todo_events_published_total{topic="task.created"} 31.0',
            'todo_events_consumed_total{outcome="applied"} 53.0',
            "todo_outbox_backlog 0.0",
        }
        # The relay counts a wave as published after it commits the mark.
        _wait_until(lambda: wanted <= set(client.get("/metrics").text.splitlines()))


def test_the_backlog_stays_bounded_while_writes_continue(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """Round after round of writes, the backlog is back to zero before the next round."""
    with TestClient(create_app(settings)) as client:
        headers = register(client)
        for round_number in range(1, 6):
            for _ in range(20):
                create_task(client, headers)
            _wait_until(lambda: _backlog(sessions) == 0)
            assert _processed(sessions) == 20 * round_number
        stats = client.get("/api/v1/stats", headers=headers).json()
    assert stats == {"total": 100, "pending": 100, "completed": 0}


def test_with_a_broker_and_no_in_process_relay_serve_leaves_the_outbox_alone(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """The cluster's shape: the relay is its own process, so serve must not drain (or apply)."""
    cluster = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{dead_port()}"})
    with TestClient(create_app(cluster)) as client:
        headers = register(client)
        create_task(client, headers)
        assert _backlog(sessions) == 1
        assert client.get("/api/v1/stats", headers=headers).json()["total"] == 0


def test_a_malformed_row_is_acknowledged_as_dropped(sessions: sessionmaker[Session]) -> None:
    metrics = Metrics()
    publisher = LocalPublisher(StatsHandler(sessions, metrics))
    junk = PendingEvent(id=1, topic="task.created", task_id=uuid.uuid4(), payload="{}")
    assert publisher.publish([junk]) == {1}
    dropped = metrics.registry.get_sample_value("todo_events_consumed_total", {"outcome": "drop"})
    assert dropped == 1


def test_with_the_database_away_nothing_is_acknowledged(sessions: sessionmaker[Session]) -> None:
    away = make_settings(f"postgresql+psycopg://todo:todo@127.0.0.1:{dead_port()}/todo")
    engine = make_engine(away)
    created = event(EventKind.CREATED, uuid.uuid4(), uuid.uuid4(), TaskStatus.PENDING)
    pending = PendingEvent(
        id=1, topic="task.created", task_id=uuid.uuid4(), payload=created.to_json()
    )
    try:
        assert (
            LocalPublisher(StatsHandler(make_sessions(engine), Metrics())).publish([pending])
            == set()
        )
    finally:
        engine.dispose()
    # With the database back the same row is applied: nothing was half done.
    assert LocalPublisher(StatsHandler(sessions, Metrics())).publish([pending]) == {1}
    assert _processed(sessions) == 1


@pytest.mark.parametrize("batch_size", [1, 7])
def test_the_local_relay_drains_in_batches_through_the_handler(
    settings: Settings, sessions: sessionmaker[Session], batch_size: int
) -> None:
    cluster = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{dead_port()}"})
    with TestClient(create_app(cluster)) as client:
        headers = register(client)
        task = create_task(client, headers)
        for i in range(5):
            client.patch(f"/api/v1/tasks/{task['id']}", json={"title": f"v{i}"}, headers=headers)
        client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
        assert _backlog(sessions) == 7
        runtime = Runtime.open(settings, Metrics())
        try:
            relay = Relay(
                runtime.sessions,
                LocalPublisher(runtime.handler),
                runtime.metrics,
                batch_size=batch_size,
                idle_seconds=0.01,
                max_backoff_seconds=0.01,
            )
            published = 0
            for _ in range(7):  # one batch of 7, or seven of 1
                published += relay.run_once()[0]
                if published == 7:
                    break
        finally:
            runtime.close()
        assert (published, _backlog(sessions), _processed(sessions)) == (7, 0, 7)
        assert client.get("/api/v1/stats", headers=headers).json() == {
            "total": 1,
            "pending": 0,
            "completed": 1,
        }
