"""The transactional outbox: enqueue in the writer's transaction, claim and mark in the relay's.

Guarantees, and where they come from:

* **Atomic with the change.** ``enqueue`` only adds a row to the caller's session; the task row
  and its event commit or roll back together.
* **No double publishing between relays.** ``claim`` locks rows with ``FOR UPDATE SKIP LOCKED``
  (PostgreSQL); a second relay skips locked rows instead of waiting for or re-reading them. The
  locks are held until the claimer commits its "published" mark.
* **Order per task.** Events of one task share a key, so within a topic they share a partition
  and keep their order there. The four kinds are separate topics, and Kafka orders nothing across
  topics, so the relay publishes a batch in *waves* (``waves``): a task's next event is produced
  only after the broker acknowledged its previous one. Consumers reading several topics may
  still see them interleaved differently; the stats handler does not depend on that order.
* **No overtaking between relays.** Hazard: relay A has locked task T's event 1; relay B,
  skipping it, would claim T's event 2 and could publish it first. So a claim keeps, for each
  task, only the rows *before* the first unpublished row of that task that it does not hold. For
  one task, outbox ids follow commit order (every writer locks the task row before inserting its
  event), so every earlier event of a task is visible when a later one is.
* **At least once.** Rows are marked only after the broker acknowledged them, so a crash between
  the acknowledgement and the mark republishes; consumers dedupe by event id.

SQLite has no row locks: there, run a single relay (the embedded default runs it in-process).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Uuid,
    any_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.types import TypeEngine

from app.events.cloudevents import TaskEvent
from app.models import OutboxEvent, utcnow


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    topic: str
    task_id: uuid.UUID
    payload: str
    traceparent: str | None = None


def enqueue(session: Session, event: TaskEvent) -> None:
    """Add the event to the caller's transaction; it is published only if that commits."""
    session.add(
        OutboxEvent(
            event_id=event.id,
            topic=event.kind.topic,
            task_id=event.data.task.id,
            payload=event.to_json(),
            traceparent=event.traceparent,
            created_at=event.time,
        )
    )


def claim(session: Session, limit: int) -> list[PendingEvent]:
    """Lock up to ``limit`` unpublished rows that may be published now, in outbox order.

    The locks last until the session's transaction ends; commit after ``mark_published``.
    """
    postgres = _is_postgres(session)
    if postgres:
        # A queue read must walk the pending-rows index in id order and stop at the limit. With
        # statistics that lag the backlog (they always do), the planner instead reads and sorts
        # every pending row (measured: 95 ms against 12 ms for 5,000 of 25,000 rows).
        session.execute(text("SET LOCAL enable_bitmapscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
    # Core, not the ORM: these are plain rows, and ORM row loading was a quarter of the relay's
    # time in py-spy at 35k events/s.
    connection = session.connection()
    rows = connection.execute(
        select(
            OutboxEvent.id,
            OutboxEvent.topic,
            OutboxEvent.task_id,
            OutboxEvent.payload,
            OutboxEvent.traceparent,
        )
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    claimed = [PendingEvent(*row) for row in rows]
    if not postgres:
        return claimed  # no row locks, hence no other relay's rows to step around
    cut = _first_foreign_row(session, claimed)
    return [e for e in claimed if e.task_id not in cut or e.id < cut[e.task_id]]


def _first_foreign_row(session: Session, claimed: Sequence[PendingEvent]) -> dict[uuid.UUID, int]:
    """Per claimed task, the id of its first unpublished row that this claim does not hold."""
    foreign = session.execute(
        select(OutboxEvent.task_id, func.min(OutboxEvent.id))
        .where(
            OutboxEvent.published_at.is_(None),
            _among(OutboxEvent.task_id, [e.task_id for e in claimed], Uuid()),
            OutboxEvent.id < claimed[-1].id,
            ~_among(OutboxEvent.id, [e.id for e in claimed], BigInteger()),
        )
        .group_by(OutboxEvent.task_id)
    ).all()
    return dict(foreign)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(
    column: InstrumentedAttribute[Any], values: list[Any], kind: TypeEngine[Any]
) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one parameter, where ``IN`` would bind thousands (PostgreSQL)."""
    return column == any_(bindparam(None, values, type_=postgresql.ARRAY(kind)))


def waves(events: Sequence[PendingEvent], limit: int) -> list[list[PendingEvent]]:
    """Split a batch so wave k holds each task's k-th event; at most ``limit`` waves.

    Events past the last wave stay claimed but unpublished; the next batch takes them. The cap
    keeps a task with thousands of pending events from costing thousands of flushes in one batch.
    """
    result: list[list[PendingEvent]] = []
    seen: dict[uuid.UUID, int] = {}
    for event in events:
        index = seen.get(event.task_id, 0)
        seen[event.task_id] = index + 1
        if index < limit:
            if index == len(result):
                result.append([])
            result[index].append(event)
    return result


def deliverable_prefix(
    events: Sequence[PendingEvent], delivered: Collection[int]
) -> list[PendingEvent]:
    """The events that may be marked: per task, those before its first undelivered one.

    A later event of a task that was delivered after an earlier one failed stays unpublished,
    so the next attempt sends both again in order (a duplicate, which consumers drop), rather
    than leaving the earlier one to arrive after it.
    """
    blocked: set[uuid.UUID] = set()
    result: list[PendingEvent] = []
    for event in events:
        if event.task_id in blocked:
            continue
        if event.id in delivered:
            result.append(event)
        else:
            blocked.add(event.task_id)
    return result


def mark_published(session: Session, ids: Collection[int]) -> None:
    """One UPDATE for the whole batch."""
    if ids:
        among = (
            _among(OutboxEvent.id, list(ids), BigInteger())
            if _is_postgres(session)
            else OutboxEvent.id.in_(ids)
        )
        session.execute(
            update(OutboxEvent)
            .where(among)
            .values(published_at=utcnow())
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True, slots=True)
class Backlog:
    """The unpublished rows, and when the oldest of them was written (None when there are none).

    The count says how much is waiting, the age how long: a relay stalled on a quiet system
    keeps the count small while the age grows, which only the age alerts on.
    """

    count: int
    oldest: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        return 0.0 if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())


def backlog(session: Session) -> Backlog:
    """One scan of the pending rows (the partial index keeps it small) for both numbers."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(
            OutboxEvent.published_at.is_(None)
        )
    ).one()
    return Backlog(count=count, oldest=oldest)
