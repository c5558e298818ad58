"""Retention: deletes published outbox rows and applied event ids once they are old enough.

Both tables would otherwise grow forever. The process that runs the relay prunes them on an
interval (``Pruner.run``, a thread beside the relay loop, so publishing never waits for it),
rather than a CronJob: the relay already holds the database connection and serves the metrics
a short-lived Job's pod would take away with it, and the embedded default, which has no
cluster, is bounded the same way.

Guarantees, and where they come from:

* **Unpublished rows stay.** Only rows with ``published_at`` set and older than the cutoff are
  deleted; a row a relay is publishing is still unpublished to every other transaction.
* **Small statements.** Each batch is one short transaction that deletes at most ``batch_size``
  rows, so no statement holds many row locks, and WAL and replication see a steady trickle.
* **Never in a relay's way.** A relay's claim reads the pending-rows index and locks pending
  rows; pruning touches only published rows, which are not in that index, and takes row locks
  only. Several relays prune at once without waiting for each other: batches lock with
  ``SKIP LOCKED``, so a row another pruner holds is left to it.
* **No scan of the young rows.** The outbox is walked along its primary key from the oldest
  row, one window of ``batch_size`` ids at a time; ids grow with time, so the walk ends at the
  first window whose last row is younger than the cutoff. Published rows are not indexed by
  time on purpose: that index would cost the relay's mark UPDATE a write per event.
  ``processed_events`` has random ids, so it has an index on ``processed_at`` (migration 0003).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.metrics import Metrics
from app.models import OutboxEvent, ProcessedEvent, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pruned:
    """Rows one pass deleted, per table."""

    outbox: int
    processed_events: int


def prune_published_window(
    session: Session, cutoff: datetime, batch_size: int, after: int
) -> tuple[int, int | None]:
    """Delete the published rows older than ``cutoff`` among the ``batch_size`` outbox rows
    after id ``after``; return how many, and the id to continue after (None: the walk is done).
    """
    edge = session.execute(
        select(OutboxEvent.id, OutboxEvent.created_at)
        .where(OutboxEvent.id > after)
        .order_by(OutboxEvent.id)
        .offset(batch_size - 1)
        .limit(1)
    ).first()
    window = [OutboxEvent.id > after]
    if edge is not None:
        window.append(OutboxEvent.id <= edge.id)
    doomed = (
        select(OutboxEvent.id)
        .where(
            *window,
            OutboxEvent.published_at.is_not(None),
            OutboxEvent.published_at < cutoff,
        )
        .with_for_update(skip_locked=True)
    )
    # Core on the session's connection: plain rows, nothing for the ORM to track.
    deleted: int = (
        session.connection()
        .execute(delete(OutboxEvent).where(OutboxEvent.id.in_(doomed.scalar_subquery())))
        .rowcount
    )
    # Only a full window whose last row is still old may be followed by more old rows.
    if edge is None or edge.created_at >= cutoff:
        return deleted, None
    return deleted, edge.id


def prune_processed_batch(session: Session, cutoff: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` of the oldest event ids recorded before ``cutoff``."""
    doomed = (
        select(ProcessedEvent.event_id)
        .where(ProcessedEvent.processed_at < cutoff)
        .order_by(ProcessedEvent.processed_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    deleted: int = (
        session.connection()
        .execute(
            delete(ProcessedEvent).where(ProcessedEvent.event_id.in_(doomed.scalar_subquery()))
        )
        .rowcount
    )
    return deleted


class Pruner:
    """Passes over both tables on an interval, beside the relay loop (its own thread)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        metrics: Metrics,
        *,
        outbox_retention: timedelta,
        processed_retention: timedelta,
        batch_size: int,
        interval_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._outbox_retention = outbox_retention
        self._processed_retention = processed_retention
        self._batch_size = batch_size
        self._interval = interval_seconds

    def run_once(self, stop: threading.Event | None = None) -> Pruned:
        """One pass over both tables, batch by batch; ``stop`` ends it between two batches."""
        stop = stop or threading.Event()
        now = utcnow()
        outbox = self._prune_outbox(now - self._outbox_retention, stop)
        processed = self._prune_processed(now - self._processed_retention, stop)
        if outbox or processed:
            log.info("pruned %d outbox rows and %d processed event ids", outbox, processed)
        return Pruned(outbox=outbox, processed_events=processed)

    def _prune_outbox(self, cutoff: datetime, stop: threading.Event) -> int:
        total, after = 0, 0
        while not stop.is_set():
            with self._sessions() as session, session.begin():
                deleted, following = prune_published_window(
                    session, cutoff, self._batch_size, after
                )
            total += deleted
            self._metrics.rows_pruned.labels("outbox").inc(deleted)
            if following is None:
                break
            after = following
        return total

    def _prune_processed(self, cutoff: datetime, stop: threading.Event) -> int:
        total = 0
        while not stop.is_set():
            with self._sessions() as session, session.begin():
                deleted = prune_processed_batch(session, cutoff, self._batch_size)
            total += deleted
            self._metrics.rows_pruned.labels("processed_events").inc(deleted)
            if deleted < self._batch_size:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        """Prune every interval until ``stop`` is set; a failed pass is retried at the next."""
        while not stop.is_set():
            try:
                self.run_once(stop)
            except Exception:  # the database may be away; the loop must outlive it
                log.exception("pruning failed; retrying in %.0fs", self._interval)
            stop.wait(self._interval)
