"""The relay is SIGKILLed in the middle of a batch, then restarted.

A relay marks rows published only after the broker acknowledged them, so a kill between the
acknowledgement and the mark's commit republishes those rows: duplicates on Kafka, by design
(at least once). What must hold: no event is lost, and the consumer's dedupe absorbs every
duplicate, so stats count each event exactly once. Besides the kill's own duplicates (their
number depends on timing), the test replays already-delivered messages verbatim, so the dedupe
path is exercised on every run.
"""

from __future__ import annotations

import time
import uuid

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from bench import database
from bench.observer import KafkaObserver
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv, wait_until
from tests.faults import checks

pytestmark = checks.SLOW_MACHINE_GUARD

# Large enough that the relay, even undisturbed on a quiet machine, is still draining it when
# the kill condition is first checked (a 4,000-row backlog once drained before the kill).
BACKLOG = 12_000
REPLAYED = 200
# Small batches: many batch boundaries, so the kill lands inside one.
SETTINGS = {"TODO_RELAY_BATCH_SIZE": "100", "TODO_RELAY_IDLE_SECONDS": "0.05"}


def _kill_mid_batch(pipeline: Pipeline, observer: KafkaObserver, database_url: str) -> int:
    """Kill the relay once an eighth is published and, ideally, while the broker holds events
    the relay has not yet marked (observer ahead of the database): those will be duplicates.
    Killing early leaves most of the backlog as margin against a slow polling loop."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        marked = database.published(database_url)
        ahead = len(observer.event_ids()) > marked
        if marked >= BACKLOG // 8 and (ahead or marked >= BACKLOG // 4):
            pipeline.relay.kill()
            return marked
        time.sleep(0.002)  # leave the cores to the relay and the broker
    raise TimeoutError(f"the relay never reached {BACKLOG // 8} published rows")


def _replay(bootstrap: str, observer: KafkaObserver, count: int) -> None:
    """Send `count` delivered messages again, byte for byte: what a republishing relay does."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for seen in observer.seen()[:count]:
        producer.produce(seen.topic, value=seen.value, key=seen.task_id.encode())
    assert producer.flush(30) == 0


def _consumer_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """The service's consumer group has committed every message on its topics."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = probe.list_topics(timeout=10)
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in metadata.topics[topic].partitions
        ]
        committed = probe.committed(partitions, timeout=10)
        for tp in committed:
            _, high = probe.get_watermark_offsets(tp, timeout=10)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        probe.close()


def test_relay_killed_mid_batch_loses_nothing(fault_env: ServiceEnv, topic_prefix: str) -> None:
    bootstrap = fault_env.kafka_bootstrap
    assert bootstrap is not None
    user_id = uuid.uuid4()
    database.insert_backlog(fault_env.database_url, BACKLOG, user_id=user_id)
    with Pipeline(fault_env, topic_prefix, **SETTINGS) as pipeline:
        group = pipeline.settings["TODO_KAFKA_CONSUMER_GROUP"]
        with KafkaObserver(bootstrap, pipeline.topics) as observer:
            marked_at_kill = _kill_mid_batch(pipeline, observer, fault_env.database_url)
            assert marked_at_kill < BACKLOG, "the relay finished before it could be killed"
            pipeline.relay.start()
            rows = database.wait_handled(fault_env.database_url, checks.EPOCH)
            wanted = {row.event_id for row in rows}
            wait_until("every event seen on Kafka", lambda: wanted <= observer.event_ids())
            from_kill = checks.duplicates(observer)
            _replay(bootstrap, observer, REPLAYED)
            wait_until(
                "the replayed messages on Kafka",
                lambda: checks.duplicates(observer) >= from_kill + REPLAYED,
            )
            wait_until(
                "the consumer to take every message",
                lambda: _consumer_caught_up(bootstrap, group, pipeline.topics),
                every=0.5,
            )

    assert len(rows) == BACKLOG
    checks.assert_every_event_arrived(observer, rows)
    checks.assert_applied_exactly_once(fault_env.database_url, rows)
    with psycopg.connect(database.libpq_url(fault_env.database_url)) as conn:
        stats = conn.execute(
            "SELECT total, pending, completed FROM user_stats WHERE user_id = %s", (user_id,)
        ).fetchone()
    assert stats == (BACKLOG, BACKLOG, 0), "a duplicate was applied, or an event lost"
    print(
        f"killed with {marked_at_kill} of {BACKLOG} rows marked; {from_kill} duplicates from the "
        f"kill, {REPLAYED} replayed, all absorbed"
    )
