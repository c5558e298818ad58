"""What every path from the outbox to the handler must keep, stated once: the fault tests and
each leg of `bench.events` (the relay's and Debezium's) check the same things.

* Every outbox row's event reached Kafka.
* Per task, Kafka holds the events in outbox (commit) order.
* The handler applied each event exactly once.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable

import psycopg

from bench.database import OutboxRow, libpq_url
from bench.observer import KafkaObserver, Seen
from bench.processes import GUARD_S, wait_until


def assert_every_event_arrived(observer: KafkaObserver, rows: list[OutboxRow]) -> None:
    missing = {row.event_id for row in rows} - observer.event_ids()
    assert not missing, f"{len(missing)} events never reached Kafka, e.g. {sorted(missing)[:3]}"


def assert_order_per_task(observer: KafkaObserver, rows: list[OutboxRow]) -> None:
    """Per task, the events' first copies in Kafka follow outbox (commit) order.

    Within one partition that is offset order. Across the four topics Kafka orders nothing, so
    the check there is on the record timestamps: the relay produces a task's next event only
    after the previous one was acknowledged, and Debezium's EventRouter stamps each record with
    the time the connector processed its change, which it does in commit order; so neither may
    show a later event with an earlier timestamp.
    """
    first: dict[uuid.UUID, Seen] = {}
    for seen in observer.seen():
        first.setdefault(seen.event_id, seen)
    by_task: dict[uuid.UUID, list[Seen]] = defaultdict(list)
    for row in rows:  # outbox order
        by_task[row.task_id].append(first[row.event_id])
    for task_id, copies in by_task.items():
        for earlier, later in itertools.pairwise(copies):
            assert later.timestamp_ms >= earlier.timestamp_ms, f"task {task_id}: {later} overtook"
            if (earlier.topic, earlier.partition) == (later.topic, later.partition):
                assert later.offset > earlier.offset, f"task {task_id}: {later} before {earlier}"


def assert_applied_exactly_once(database_url: str, rows: list[OutboxRow]) -> None:
    """The handler recorded every event id of the rows, and nothing else since the first of them
    was written (the table's key forbids twice)."""
    if not rows:
        raise ValueError("no outbox rows to check")
    since = min(row.created_at for row in rows)
    with psycopg.connect(libpq_url(database_url)) as conn:
        processed = {
            r[0]
            for r in conn.execute(
                "SELECT event_id FROM processed_events WHERE processed_at >= %s", (since,)
            )
        }
    assert processed == {row.event_id for row in rows}


def duplicates(observer: KafkaObserver) -> int:
    seen = observer.seen()
    return len(seen) - len({s.event_id for s in seen})


def check_delivery(
    bootstrap: str, topics: Iterable[str], database_url: str, rows: list[OutboxRow]
) -> str:
    """After a leg: read its topics from the start and check the three guarantees for ``rows``.

    Read afterwards, not during the load, so the reading takes no CPU from what is measured.
    Returns "ok" or what failed, so a leg that breaks a guarantee is reported beside its figures.
    """
    with KafkaObserver(bootstrap, topics) as observer:
        wanted = {row.event_id for row in rows}
        # A guard, not a verdict: what is still missing then is reported below, by id.
        with contextlib.suppress(TimeoutError):
            wait_until("every event seen on Kafka", lambda: wanted <= observer.event_ids(), GUARD_S)
    try:
        assert_every_event_arrived(observer, rows)
        assert_order_per_task(observer, rows)
        assert_applied_exactly_once(database_url, rows)
    except AssertionError as failure:
        return f"failed: {failure}"
    return "ok"
