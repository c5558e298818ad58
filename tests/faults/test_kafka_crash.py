"""The broker is SIGKILLed in the middle of a stream of task writes, then restarted.

What must hold: the API keeps accepting writes while the broker is away (the outbox decouples
them); afterwards every event reaches Kafka, in order per task, and the handler applies each
exactly once. The broker stays down until 400 writes were answered without it, however long
that takes on this machine.
"""

from __future__ import annotations

import asyncio

from bench.database import wait_handled
from bench.faults import QUICK_RECOVERY, RATE, Counts, kafka_killed, under_fault
from bench.load import TaskWriter, User, register_user
from bench.observer import KafkaObserver
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv, wait_until
from bench.servers import ServerSet
from tests.faults import checks

pytestmark = checks.SLOW_MACHINE_GUARD

# Writes go on at RATE while the broker restarts (a JVM start: tens of seconds on a busy
# machine), and every one of them is an event to drain afterwards; 240/s made 15,000 of them
# under a CPU hog. The counts below, not the rate, decide what the test proves.
COUNTS = Counts(before=500, during=400, after=300)


def test_kafka_killed_mid_burst_loses_nothing(
    fault_servers: ServerSet, fault_env: ServiceEnv, topic_prefix: str
) -> None:
    assert fault_env.kafka_bootstrap is not None
    with Pipeline(fault_env, topic_prefix, **QUICK_RECOVERY) as pipeline:
        base_url = pipeline.api.base_url
        users: list[User] = [register_user(base_url, "kafka-fault") for _ in range(4)]
        writer = TaskWriter(users)
        with KafkaObserver(fault_env.kafka_bootstrap, pipeline.topics) as observer:
            run = asyncio.run(
                under_fault(base_url, writer, kafka_killed(fault_servers), COUNTS, rate=RATE)
            )
            rows = wait_handled(fault_env.database_url, checks.EPOCH)
            wanted = {row.event_id for row in rows}
            wait_until("every event seen on Kafka", lambda: wanted <= observer.event_ids())

        log = run.log
        assert log.transport_errors == 0, log.transport_failures[:3]
        assert set(log.statuses) <= {200, 201}, f"writes failed: {log.statuses}"
        assert len(run.during()) >= COUNTS.during
        checks.assert_outbox_holds_every_accepted_write(rows, log)
        checks.assert_every_event_arrived(observer, rows)
        checks.assert_order_per_task(observer, rows)
        checks.assert_applied_exactly_once(fault_env.database_url, rows)
        checks.assert_stats_match(base_url, writer)
        print(
            f"{len(rows)} events, {len(run.during())} writes accepted while the broker was down "
            f"({run.ended - run.began:.1f}s), {checks.duplicates(observer)} duplicates on Kafka"
        )
