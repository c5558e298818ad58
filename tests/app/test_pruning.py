"""Retention (app.events.pruning): what goes, what stays, in small batches, beside live relays."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.events import outbox
from app.events.pruning import Pruner, prune_published_window
from app.main import create_app
from app.metrics import Metrics
from app.models import OutboxEvent, ProcessedEvent, utcnow
from tests.app.test_relay import (
    assert_order_kept,
    assert_published_once,
    make_events,
    make_relay,
    pending,
    read_while_running,
)

WEEK = timedelta(days=7)
# Generous guard for a thread that must not be waiting on a lock; never reached when it works.
GUARD_SECONDS = 60


@dataclass
class Deletes:
    """Rows each DELETE statement removed, per table, as the database reported them."""

    rows: dict[str, list[int]] = field(default_factory=lambda: {"outbox": [], "processed": []})

    def record(self, statement: str, rowcount: int) -> None:
        for table in self.rows:
            if statement.startswith(f"DELETE FROM {table}"):
                self.rows[table].append(rowcount)


@pytest.fixture
def deletes(engine: Engine) -> Iterator[Deletes]:
    seen = Deletes()

    def after(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        seen.record(statement, cursor.rowcount)

    event.listen(engine, "after_cursor_execute", after)
    yield seen
    event.remove(engine, "after_cursor_execute", after)


def make_pruner(
    sessions: sessionmaker[Session],
    *,
    batch_size: int,
    outbox_retention: timedelta = WEEK,
    processed_retention: timedelta = 2 * WEEK,
) -> tuple[Pruner, Metrics]:
    metrics = Metrics()
    pruner = Pruner(
        sessions,
        metrics,
        outbox_retention=outbox_retention,
        processed_retention=processed_retention,
        batch_size=batch_size,
        interval_seconds=0.05,
    )
    return pruner, metrics


def add_rows(
    sessions: sessionmaker[Session],
    count: int,
    *,
    created: timedelta,
    published: timedelta | None,
) -> None:
    """``count`` outbox rows created ``created`` ago, published ``published`` ago (None: not)."""
    now = utcnow()
    rows = [
        {
            "event_id": uuid.uuid4(),
            "topic": "task.created",
            "task_id": uuid.uuid4(),
            "payload": "{}",
            "created_at": now - created,
            "published_at": None if published is None else now - published,
        }
        for _ in range(count)
    ]
    with sessions() as session, session.begin():
        session.execute(insert(OutboxEvent), rows)


def add_processed(sessions: sessionmaker[Session], count: int, *, age: timedelta) -> None:
    now = utcnow()
    rows = [{"event_id": uuid.uuid4(), "processed_at": now - age} for _ in range(count)]
    with sessions() as session, session.begin():
        session.execute(insert(ProcessedEvent), rows)


def outbox_rows(sessions: sessionmaker[Session]) -> list[tuple[datetime, datetime | None]]:
    with sessions() as session:
        query = select(OutboxEvent.created_at, OutboxEvent.published_at).order_by(OutboxEvent.id)
        return [(row.created_at, row.published_at) for row in session.execute(query)]


def pruned(metrics: Metrics, table: str) -> float | None:
    return metrics.registry.get_sample_value("todo_rows_pruned_total", {"table": table})


def test_prunes_only_published_rows_older_than_the_retention_in_batches(
    sessions: sessionmaker[Session], deletes: Deletes
) -> None:
    old, recent = 2 * WEEK, timedelta(hours=1)
    # Interleaved, so old published rows span several windows with kept rows between them.
    for _ in range(5):
        add_rows(sessions, 5, created=old, published=old)
        add_rows(sessions, 1, created=old, published=None)  # stuck: kept however old
    add_rows(sessions, 2, created=old, published=recent)  # published late: its age counts
    add_rows(sessions, 5, created=recent, published=recent)
    add_rows(sessions, 4, created=recent, published=None)
    pruner, metrics = make_pruner(sessions, batch_size=4)

    result = pruner.run_once()

    assert result.outbox == 25
    assert pruned(metrics, "outbox") == 25
    assert deletes.rows["outbox"], "nothing was deleted"
    assert max(deletes.rows["outbox"]) <= 4, "a statement deleted more than one batch"
    cutoff = utcnow() - WEEK
    rows = outbox_rows(sessions)
    assert len(rows) == 5 + 2 + 5 + 4
    assert all(published is None or published > cutoff for _, published in rows)
    assert sum(1 for created, published in rows if published is None and created < cutoff) == 5
    assert pending(sessions) == 9
    assert pruner.run_once().outbox == 0


def test_unpublished_rows_are_kept_however_old(sessions: sessionmaker[Session]) -> None:
    add_rows(sessions, 12, created=timedelta(days=3650), published=None)
    pruner, metrics = make_pruner(sessions, batch_size=5, outbox_retention=timedelta(hours=1))

    assert pruner.run_once().outbox == 0
    assert pending(sessions) == 12
    assert pruned(metrics, "outbox") == 0


def test_the_outbox_walk_ends_at_the_first_young_window(
    sessions: sessionmaker[Session], deletes: Deletes
) -> None:
    """Young rows are not scanned batch after batch: ids grow with time, so one young window
    means every later row is young too."""
    add_rows(sessions, 3, created=2 * WEEK, published=2 * WEEK)
    add_rows(sessions, 200, created=timedelta(hours=1), published=timedelta(hours=1))
    pruner, _ = make_pruner(sessions, batch_size=10)

    assert pruner.run_once().outbox == 3
    assert deletes.rows["outbox"] == [3]


def test_processed_ids_are_pruned_by_age_in_batches(
    sessions: sessionmaker[Session], deletes: Deletes
) -> None:
    add_processed(sessions, 23, age=3 * WEEK)
    add_processed(sessions, 6, age=timedelta(days=13))
    pruner, metrics = make_pruner(sessions, batch_size=5, processed_retention=2 * WEEK)

    assert pruner.run_once().processed_events == 23

    assert pruned(metrics, "processed_events") == 23
    assert deletes.rows["processed"] == [5, 5, 5, 5, 3]
    with sessions() as session:
        left = session.scalar(select(func.min(ProcessedEvent.processed_at)))
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 6
    assert left is not None
    assert left > utcnow() - 2 * WEEK


def _finishes(target: Any, *args: Any) -> Any:
    """Run ``target`` in a thread and return its result; fail if it waits on a lock."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(target(*args)), daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    assert not thread.is_alive(), f"{target} waited on another transaction's locks"
    return results[0]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_pruning_and_a_relay_never_wait_for_each_other(sessions: sessionmaker[Session]) -> None:
    add_rows(sessions, 30, created=2 * WEEK, published=2 * WEEK)
    count = make_events(sessions, tasks=5, updates=1)
    pruner, _ = make_pruner(sessions, batch_size=8)

    # A relay holds its claimed rows: pruning runs through and leaves them alone.
    with sessions() as relay, relay.begin():
        claimed = outbox.claim(relay, 100)
        assert len(claimed) == count
        assert _finishes(pruner.run_once).outbox == 30
        outbox.mark_published(relay, [e.id for e in claimed])
    assert pending(sessions) == 0

    # A pruner holds a window's deletions: a relay claims and marks new events regardless, and
    # a second pruner skips the held rows instead of waiting for them.
    add_rows(sessions, 6, created=2 * WEEK, published=2 * WEEK)
    more = make_events(sessions, tasks=3, updates=0)
    # One window over the whole table, so the second pruner meets the held rows.
    other, _ = make_pruner(sessions, batch_size=1000)

    def relay_batch() -> int:
        with sessions() as relay, relay.begin():
            events = outbox.claim(relay, 100)
            outbox.mark_published(relay, [e.id for e in events])
            return len(events)

    with sessions() as holder, holder.begin():
        held, _ = prune_published_window(holder, utcnow() - WEEK, 1000, 0)
        assert held == 6
        assert _finishes(relay_batch) == more
        assert _finishes(other.run_once).outbox == 0
    assert len(outbox_rows(sessions)) == count + more


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_relays_publish_every_event_in_order_while_pruners_run(
    sessions: sessionmaker[Session], kafka_bootstrap: str, topic_prefix: str
) -> None:
    add_rows(sessions, 3000, created=2 * WEEK, published=2 * WEEK)
    count = make_events(sessions, tasks=60, updates=4)
    relays = [make_relay(sessions, kafka_bootstrap, topic_prefix, batch_size=40)[0] for _ in "ab"]
    pruners = [make_pruner(sessions, batch_size=50)[0] for _ in "ab"]
    messages = read_while_running([*relays, *pruners], kafka_bootstrap, topic_prefix, count)
    assert_published_once(messages, count)
    assert pending(sessions) == 0
    make_pruner(sessions, batch_size=50)[0].run_once()  # whatever the pruners had not reached
    # Only the events just published are left, each once: none was pruned before it was sent.
    assert len(outbox_rows(sessions)) == count
    assert_order_kept(messages, sessions)


def test_serve_prunes_where_it_runs_the_relay(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """With no broker, `serve` drains the outbox itself, so it bounds the tables too."""
    add_rows(sessions, 7, created=3 * WEEK, published=3 * WEEK)
    add_processed(sessions, 4, age=5 * WEEK)
    deadline = time.monotonic() + GUARD_SECONDS
    with TestClient(create_app(settings)) as client:
        while outbox_rows(sessions) or pruned_total(client) < 11:
            assert time.monotonic() < deadline, "serve did not prune within the guard"
            time.sleep(0.05)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0


def pruned_total(client: TestClient) -> float:
    lines = client.get("/metrics").text.splitlines()
    return sum(
        float(line.split()[-1]) for line in lines if line.startswith("todo_rows_pruned_total")
    )
