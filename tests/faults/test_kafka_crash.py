"""The broker is SIGKILLed in the middle of a burst of task writes, then restarted.

What must hold: the API keeps accepting writes while the broker is away (the outbox decouples
them); afterwards every event reaches Kafka, in order per task, and the handler applies each
exactly once.
"""

from __future__ import annotations

import asyncio
import time

from bench.database import wait_handled
from bench.load import TaskWriter, User, WriteLog, register_user, steady_writes
from bench.pipeline import Pipeline
from bench.processes import ServiceEnv, wait_until
from bench.servers import ServerSet
from tests.faults import checks
from tests.faults.observer import KafkaObserver

BURST = 2_400
RATE = 240.0  # writes per second: the burst lasts 10 s
KILL_AFTER_S = 2.5
DOWN_FOR_S = 3.0  # then `scripts/services start kafka`, which takes several seconds more
# Retry soon after the broker is back, so the test does not wait out a long backoff.
SETTINGS = {"TODO_RELAY_MAX_BACKOFF_SECONDS": "2", "TODO_RELAY_IDLE_SECONDS": "0.05"}


async def _burst_with_broker_crash(
    servers: ServerSet, base_url: str, writer: TaskWriter
) -> tuple[WriteLog, float, float]:
    load = asyncio.create_task(steady_writes(base_url, writer, RATE, BURST))
    await asyncio.sleep(KILL_AFTER_S)
    try:
        await asyncio.to_thread(servers.kill, "kafka")
        killed = time.perf_counter()
        await asyncio.sleep(DOWN_FOR_S)
        restarting = time.perf_counter()
    finally:
        await asyncio.to_thread(servers.start, "kafka")
    return await load, killed, restarting


def test_kafka_killed_mid_burst_loses_nothing(
    fault_servers: ServerSet, fault_env: ServiceEnv, topic_prefix: str
) -> None:
    assert fault_env.kafka_bootstrap is not None
    with Pipeline(fault_env, topic_prefix, **SETTINGS) as pipeline:
        base_url = pipeline.api.base_url
        users: list[User] = [register_user(base_url, "kafka-fault") for _ in range(4)]
        writer = TaskWriter(users)
        with KafkaObserver(fault_env.kafka_bootstrap, pipeline.topics) as observer:
            log, killed, restarting = asyncio.run(
                _burst_with_broker_crash(fault_servers, base_url, writer)
            )
            rows = wait_handled(fault_env.database_url, checks.EPOCH, timeout=120)
            wanted = {row.event_id for row in rows}
            wait_until("every event seen on Kafka", lambda: wanted <= observer.event_ids(), 60)

        assert log.sent == BURST
        assert log.transport_errors == 0
        assert set(log.statuses) <= {200, 201}, f"writes failed: {log.statuses}"
        while_down = log.statuses_between(killed, restarting)
        assert sum(while_down.values()) >= RATE * DOWN_FOR_S / 2, f"too few writes: {while_down}"
        checks.assert_outbox_holds_every_accepted_write(rows, log)
        checks.assert_every_event_arrived(observer, rows)
        checks.assert_order_per_task(observer, rows)
        checks.assert_applied_exactly_once(fault_env.database_url, rows)
        checks.assert_stats_match(base_url, writer)
        print(
            f"{len(rows)} events, {sum(while_down.values())} writes accepted while the broker "
            f"was down, {checks.duplicates(observer)} duplicates on Kafka"
        )
