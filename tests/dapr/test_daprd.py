"""The dev stack's own Dapr Components and Configuration, run by a real daprd beside the service.

daprd (scripts/daprd-toolchain) runs self-hosted with the objects the component library renders
for the dev stack, converted by bench/dapr_self_hosted.py and pointed at the development Kafka
and Redis. The service publishes its outbox (relay in process) and has no consumer of its own,
so every event the handler applies came through daprd's Kafka subscription.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from app.api.routes.events import EVENT_ROUTE
from bench.dapr_self_hosted import BACKEND_APP_ID, ConversionError, SelfHostedApp
from bench.daprd import Daprd
from bench.database import OutboxRow, libpq_url, outbox_since, wait_handled
from bench.load import TASKS, register_user
from bench.processes import ApiServer, ServiceEnv, wait_until
from infra.dapr.components import PUBSUB, STATESTORE
from tests.infra.manifests import Manifest

# Bounded by counts: tasks, and the updates each gets before it is completed.
TASK_COUNT = 4
UPDATES_PER_TASK = 3
RETRIES = 3  # deliveries the RETRY test makes fail before it lets them succeed

ConvertDev = Callable[..., SelfHostedApp]
Sidecar = Callable[..., Daprd]


def _counter(base_url: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus counter's samples carrying ``labels`` on the service's /metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{name}_total"
        and all(sample.labels.get(key) == value for key, value in labels.items())
    )


def _write_tasks(base_url: str) -> dict[str, str]:
    """Create tasks, update each a few times, complete each; the user's headers."""
    user = register_user(base_url, prefix="dapr")
    for i in range(TASK_COUNT):
        created = httpx.post(
            f"{base_url}{TASKS}", json={"title": f"dapr {i}"}, headers=user.headers, timeout=30
        )
        assert created.status_code == 201, created.text
        task = f"{base_url}{TASKS}/{created.json()['id']}"
        for revision in range(UPDATES_PER_TASK):
            body = {"description": f"revision {revision}"}
            updated = httpx.patch(task, json=body, headers=user.headers, timeout=30)
            assert updated.status_code == 200, updated.text
        completed = httpx.post(f"{task}/complete", headers=user.headers, timeout=30)
        assert completed.status_code == 200, completed.text
    return user.headers


def _handled_in_outbox_order_per_task_and_topic(rows: list[OutboxRow]) -> None:
    """One task's events on one topic share a partition (key = task id), which Dapr delivers
    in order, one at a time: the handler must apply them in the order they were committed."""
    streams: dict[tuple[uuid.UUID, str], list[OutboxRow]] = defaultdict(list)
    for row in rows:  # outbox order
        streams[(row.task_id, row.topic)].append(row)
    assert any(len(stream) > 1 for stream in streams.values())
    for (task_id, topic), stream in streams.items():
        for earlier, later in itertools.pairwise(stream):
            assert earlier.processed_at is not None
            assert later.processed_at is not None
            assert later.processed_at > earlier.processed_at, (
                f"task {task_id}: {topic} event {later.event_id} applied before {earlier.event_id}"
            )


def test_events_written_through_the_api_reach_the_handler_through_daprd_once_in_order(
    convert_dev: ConvertDev, sidecar: Sidecar, api: ApiServer, service_env: ServiceEnv
) -> None:
    daprd = sidecar(convert_dev())
    daprd.wait_ready()
    since = datetime.now(UTC)
    user = _write_tasks(api.base_url)

    rows = wait_handled(service_env.database_url, since)
    assert len(rows) == TASK_COUNT * (UPDATES_PER_TASK + 2)
    _each_applied_once_in_order(api, daprd, service_env, rows, user, retries=0)


def _each_applied_once_in_order(
    api: ApiServer,
    daprd: Daprd,
    service_env: ServiceEnv,
    rows: list[OutboxRow],
    user: dict[str, str],
    retries: float,
) -> None:
    """Every event reached the handler through the event route and was applied once: as many
    200 answers as events plus the ``retries`` answered RETRY, none a duplicate, the processed
    ids the outbox's, per task and topic in commit order, and the stats right."""
    wait_until(
        "the last delivery's answer to be counted",
        lambda: _counter(api.base_url, "todo_events_consumed", outcome="applied") == len(rows),
    )
    assert _counter(api.base_url, "todo_events_consumed", outcome="duplicate") == 0
    deliveries = _counter(
        api.base_url, "todo_http_requests", method="POST", route=EVENT_ROUTE, status="200"
    )
    assert deliveries == len(rows) + retries, daprd.log_tail()
    with psycopg.connect(libpq_url(service_env.database_url)) as conn:
        processed = {r[0] for r in conn.execute("SELECT event_id FROM processed_events")}
    assert processed == {row.event_id for row in rows}
    _handled_in_outbox_order_per_task_and_topic(rows)
    stats = httpx.get(f"{api.base_url}/api/v1/stats", headers=user, timeout=10).json()
    assert stats == {"total": TASK_COUNT, "pending": 0, "completed": TASK_COUNT}


def _cancel_lock_waits(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Cancel every statement of this database that waits for a lock (the handler's)."""
    conn.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )


def test_a_delivery_answered_retry_is_redelivered_until_applied_once(
    convert_dev: ConvertDev, sidecar: Sidecar, api: ApiServer, service_env: ServiceEnv
) -> None:
    # The test holds a lock that every stats change waits for, and cancels each wait: the
    # handler's transaction fails with a transient error and the delivery answers RETRY. Once
    # RETRIES were answered the lock goes, and daprd's redeliveries must apply every event once.
    since = datetime.now(UTC)
    database = libpq_url(service_env.database_url)
    with psycopg.connect(database) as blocker, psycopg.connect(database, autocommit=True) as admin:
        blocker.execute("LOCK TABLE user_stats IN SHARE MODE")
        daprd = sidecar(convert_dev())
        daprd.wait_ready()
        user = _write_tasks(api.base_url)

        def retried() -> bool:
            _cancel_lock_waits(admin)
            return _counter(api.base_url, "todo_events_consumed", outcome="retry") >= RETRIES

        wait_until(f"{RETRIES} deliveries answered RETRY", retried, every=0.2)
        blocker.rollback()
    rows = wait_handled(service_env.database_url, since)
    # Each RETRY is a 200 with that status, and every one was followed by a redelivery.
    retries = _counter(api.base_url, "todo_events_consumed", outcome="retry")
    _each_applied_once_in_order(api, daprd, service_env, rows, user, retries=retries)


def test_an_envelope_that_is_not_our_event_is_dropped_and_the_partition_moves_on(
    convert_dev: ConvertDev, sidecar: Sidecar, api: ApiServer, service_env: ServiceEnv, topics: str
) -> None:
    # A well-formed CloudEvent of a type the service does not know, at the head of every
    # partition: the service answers DROP (docs/events.md), Dapr discards it instead of
    # redelivering it, and the events behind it on the same partition still arrive.
    foreign = {"specversion": "1.0", "type": "com.example.other", "source": "/elsewhere"}
    partitions = _partitions(service_env, topics)
    producer = Producer({"bootstrap.servers": service_env.kafka_bootstrap})
    for partition in partitions:
        value = json.dumps({**foreign, "id": str(uuid.uuid4())}).encode()
        producer.produce(f"{topics}task.created", value, partition=partition)
    assert producer.flush(30) == 0
    daprd = sidecar(convert_dev())
    daprd.wait_ready()
    since = datetime.now(UTC)
    _write_tasks(api.base_url)
    rows = wait_handled(service_env.database_url, since)
    wait_until(
        "every foreign event to be dropped",
        lambda: _counter(api.base_url, "todo_events_consumed", outcome="drop") == len(partitions),
    )
    assert _counter(api.base_url, "todo_events_consumed", outcome="applied") == len(rows)
    deliveries = _counter(
        api.base_url, "todo_http_requests", method="POST", route=EVENT_ROUTE, status="200"
    )
    assert deliveries == len(rows) + len(partitions), daprd.log_tail()


def _partitions(env: ServiceEnv, prefix: str) -> list[int]:
    assert env.kafka_bootstrap is not None
    topic = f"{prefix}task.created"
    metadata = AdminClient({"bootstrap.servers": env.kafka_bootstrap}).list_topics(
        topic, timeout=10
    )
    return sorted(metadata.topics[topic].partitions)


def test_events_from_a_sidecar_with_the_wrong_token_are_refused(
    convert_dev: ConvertDev, sidecar: Sidecar, api: ApiServer, service_env: ServiceEnv
) -> None:
    wrong = sidecar(convert_dev(), "not-the-token")
    wrong.wait_ready()
    since = datetime.now(UTC)
    _write_tasks(api.base_url)
    wait_until(
        "the service to refuse a delivery",
        lambda: _counter(api.base_url, "todo_http_requests", route=EVENT_ROUTE, status="401") > 0,
    )
    assert all(row.processed_at is None for row in outbox_since(service_env.database_url, since))
    assert _counter(api.base_url, "todo_events_consumed") == 0, wrong.log_tail()


def test_a_request_without_the_app_token_is_refused(api: ApiServer) -> None:
    event = {"specversion": "1.0", "type": "task.created", "id": str(uuid.uuid4())}
    for headers in ({}, {"dapr-api-token": "wrong"}):
        answer = httpx.post(
            f"{api.base_url}/events/task/created", json=event, headers=headers, timeout=10
        )
        assert answer.status_code == 401
        assert answer.json()["detail"] == "missing or wrong dapr-api-token"
    assert _counter(api.base_url, "todo_events_consumed") == 0


def test_the_state_store_answers_through_daprd(
    convert_dev: ConvertDev, sidecar: Sidecar, redis_url: str
) -> None:
    daprd = sidecar(convert_dev())
    daprd.wait_ready()
    key = f"dapr-test-{uuid.uuid4().hex[:10]}"
    value = {"count": 3, "name": "through daprd"}
    store = f"{daprd.base_url}/v1.0/state/{STATESTORE}"
    saved = httpx.post(store, json=[{"key": key, "value": value}], timeout=10)
    assert saved.status_code == 204, saved.text
    read = httpx.get(f"{store}/{key}", timeout=10)
    assert (read.status_code, read.json()) == (200, value)
    # The Component's keyPrefix `appid` stores it under the app id, in the development Redis.
    redis = Redis.from_url(redis_url)
    try:
        stored = f"{BACKEND_APP_ID}||{key}"
        assert redis.exists(stored) == 1
        assert httpx.delete(f"{store}/{key}", timeout=10).status_code == 204
        assert redis.exists(stored) == 0
    finally:
        redis.close()


def _with_metadata(
    manifests: list[Manifest], component: str, key: str, value: str
) -> list[Manifest]:
    altered = copy.deepcopy(manifests)
    (target,) = [
        m for m in altered if m["kind"] == "Component" and m["metadata"]["name"] == component
    ]
    (item,) = [i for i in target["spec"]["metadata"] if i["name"] == key]
    item["value"] = value
    return altered


@pytest.mark.parametrize(
    ("component", "key", "value"),
    [(PUBSUB, "version", "0.bogus"), (PUBSUB, "authType", "bogus")],
)
def test_a_component_with_wrong_metadata_stops_daprd(
    convert_dev: ConvertDev,
    sidecar: Sidecar,
    dev_manifests: list[Manifest],
    component: str,
    key: str,
    value: str,
) -> None:
    daprd = sidecar(convert_dev(_with_metadata(dev_manifests, component, key, value)))
    assert daprd.wait_exit() != 0
    assert f"{component} (pubsub.kafka/v1)" in daprd.log_tail(20_000)


def test_a_reference_to_a_secret_key_the_stack_lacks_is_refused_naming_the_component(
    convert_dev: ConvertDev, dev_manifests: list[Manifest]
) -> None:
    altered = copy.deepcopy(dev_manifests)
    (store,) = [
        m for m in altered if m["kind"] == "Component" and m["metadata"]["name"] == STATESTORE
    ]
    (password,) = [i for i in store["spec"]["metadata"] if "secretKeyRef" in i]
    password["secretKeyRef"]["key"] = "NO_SUCH_KEY"
    with pytest.raises(ConversionError) as refused:
        convert_dev(altered)
    assert str(refused.value).startswith(f"Component {STATESTORE}: metadata redisPassword refers")
    assert "'NO_SUCH_KEY'" in str(refused.value)
