"""The measurement's view of PostgreSQL: fresh databases, outbox backlogs, and what was handled.

Both ends of the end-to-end latency are timestamps the service writes itself, on one host clock:
the outbox row's ``created_at`` is the event's ``time``, taken in the writing transaction just
before it commits, and ``processed_events.processed_at`` is taken by the consumer's handler when
it applies the event. Their difference is therefore commit-to-handler, slightly overstated by
the commit itself, never understated.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from app.events.cloudevents import EventKind, TaskEvent
from app.models import TaskPriority, TaskStatus
from app.schemas import TaskPublic
from bench.processes import GUARD_S, wait_until

# Rows a publisher gets before a backlog is measured: connected, one small batch sent.
WARM_UP_ROWS = 200


def libpq_url(database_url: str) -> str:
    """SQLAlchemy's `postgresql+psycopg://` URL as libpq wants it."""
    if not database_url.startswith("postgresql+psycopg://"):
        raise ValueError(f"TODO_DATABASE_URL must be a postgresql+psycopg URL, got {database_url}")
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(database_url: str, name: str) -> str:
    """The same server and credentials, another database."""
    base, _, _ = database_url.rpartition("/")
    return f"{base}/{name}"


def recreate_database(database_url: str, name: str) -> str:
    """Drop and create database `name` next to the one `database_url` names; return its URL."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    return with_database(database_url, name)


def drop_database(database_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def sample_task(index: int) -> TaskPublic:
    """A new task as the API shows it, shaped like the load generator's."""
    now = datetime.now(UTC)
    return TaskPublic(
        id=uuid.uuid4(),
        title=f"bench task {index}",
        description=None,
        status=TaskStatus.PENDING,
        priority=TaskPriority.HIGH,
        due_date=None,
        tags=["bench"],
        created_at=now,
        updated_at=now,
        completed_at=None,
    )


def sample_event(
    index: int, kind: EventKind = EventKind.CREATED, user_id: uuid.UUID | None = None
) -> TaskEvent:
    """An event shaped like the load generator's: same fields, same sizes."""
    return TaskEvent.about(
        kind,
        task=sample_task(index),
        user_id=user_id or uuid.uuid4(),
        source="/todo-api",
        request_id=uuid.uuid4().hex,
    )


def insert_backlog(
    database_url: str, count: int, user_id: uuid.UUID | None = None, batch: int = 5_000
) -> datetime:
    """Insert `count` unpublished outbox rows in one transaction; return its commit time.

    The relays see none of them until that commit, so the commit time is when the backlog
    starts to exist for them.
    """
    with psycopg.connect(libpq_url(database_url)) as conn:
        with conn.cursor() as cur:
            for start in range(0, count, batch):
                rows = [
                    outbox_row(sample_event(i, user_id=user_id))
                    for i in range(start, min(count, start + batch))
                ]
                cur.executemany(INSERT_OUTBOX, rows)
        conn.commit()
        return datetime.now(UTC)


def mark_all_published(database_url: str) -> None:
    """Mark every pending row published, as a relay would have once the broker had it: for rows
    that another publisher (Debezium, which never writes to the database) carried."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")


INSERT_OUTBOX = (
    "INSERT INTO outbox (event_id, topic, task_id, payload, created_at) VALUES (%s, %s, %s, %s, %s)"
)


def outbox_row(event: TaskEvent) -> tuple[uuid.UUID, str, uuid.UUID, str, datetime]:
    return (event.id, event.kind.topic, event.data.task.id, event.to_json(), event.time)


def backlog(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
        return int(row[0]) if row else 0


def published(database_url: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").fetchone()
        return int(row[0]) if row else 0


def last_published_at(database_url: str) -> datetime:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT max(published_at) FROM outbox").fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("no outbox row has been published")
    value: datetime = row[0]
    return value


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row as written by the API, and when the handler applied it (if it has)."""

    id: int
    event_id: uuid.UUID
    topic: str
    task_id: uuid.UUID
    payload: str
    created_at: datetime
    published_at: datetime | None
    processed_at: datetime | None

    @property
    def user_id(self) -> str:
        return str(json.loads(self.payload)["data"]["user_id"])


def outbox_since(database_url: str, since: datetime) -> list[OutboxRow]:
    """Every outbox row created at or after `since`, in outbox order, with its handling time."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT o.id, o.event_id, o.topic, o.task_id, o.payload, o.created_at, "
            "o.published_at, p.processed_at FROM outbox o "
            "LEFT JOIN processed_events p ON p.event_id = o.event_id "
            "WHERE o.created_at >= %s ORDER BY o.id",
            (since,),
        ).fetchall()
    return [OutboxRow(*row) for row in rows]


def e2e_seconds(rows: Iterable[OutboxRow]) -> list[float]:
    """Commit-to-handler latency of every handled row."""
    return [
        (row.processed_at - row.created_at).total_seconds()
        for row in rows
        if row.processed_at is not None
    ]


def relay_seconds(rows: Iterable[OutboxRow]) -> list[float]:
    """The first leg: commit to the relay's published mark (after the broker's ack)."""
    return [
        (row.published_at - row.created_at).total_seconds()
        for row in rows
        if row.published_at is not None
    ]


def unhandled(rows: Sequence[OutboxRow]) -> int:
    return sum(1 for row in rows if row.processed_at is None)


def wait_handled(database_url: str, since: datetime, timeout: float = GUARD_S) -> list[OutboxRow]:
    """Wait until the handler has applied every outbox row created since `since`; return them."""
    rows: list[OutboxRow] = []

    def all_handled() -> bool:
        nonlocal rows
        rows = outbox_since(database_url, since)
        return bool(rows) and unhandled(rows) == 0

    wait_until("every event to be handled", all_handled, timeout=timeout, every=0.25)
    return rows


def wait_settled(database_url: str, since: datetime, stall_s: float) -> list[OutboxRow]:
    """Every outbox row created since `since`, once the handler has applied them all or has
    applied no more of them for `stall_s` seconds: a path that loses events is then measured
    with the rows it left unhandled, not waited for until a guard fails the whole run."""
    handled, progressed = -1, time.monotonic()
    while True:
        rows = outbox_since(database_url, since)
        now_handled = len(rows) - unhandled(rows)
        if rows and now_handled == len(rows):
            return rows
        if now_handled > handled:
            handled, progressed = now_handled, time.monotonic()
        elif time.monotonic() - progressed > stall_s:
            return rows
        time.sleep(0.25)
