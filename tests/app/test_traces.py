"""Traces with an in-memory exporter: one request's trace runs API → outbox → relay → Kafka →
consumer, on the real PostgreSQL and Kafka; the Dapr route joins it; tracing off adds nothing."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.events.cloudevents import EventKind, TaskEvent
from app.events.consumer import StatsConsumer
from app.events.handler import StatsHandler
from app.events.trace_context import context_of
from app.main import create_app
from app.metrics import Metrics
from app.models import OutboxEvent, TaskStatus
from app.runtime import Runtime
from app.tracing import Tracing
from tests.app.helpers import create_task, register
from tests.app.test_consumer import event, wait_for

TRACEPARENT = "00-{trace}-{span}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    return Tracing(SimpleSpanProcessor(exporter))


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def tree(spans: list[ReadableSpan], trace_id: int) -> list[str]:
    """The trace's spans as indented lines (children in start order), to compare and print."""
    mine = sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time)
    ids = {s.context.span_id for s in mine}
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in mine:
            own_parent = span.parent.span_id if span.parent else None
            if (own_parent if own_parent in ids else None) == parent:
                lines.append(f"{'  ' * depth}{span.name} [{span.kind.name}]")
                walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return lines


def _event(traceparent: str | None) -> TaskEvent:
    made = event(EventKind.CREATED, uuid.uuid4(), uuid.uuid4(), TaskStatus.PENDING)
    return made.model_copy(update={"traceparent": traceparent})


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def _by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


def _consume_until(
    consumer: StatsConsumer, done: Callable[[], bool]
) -> None:  # the consumer runs in its own thread, as `todo-api consume` does
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_for(done)
    finally:
        stop.set()
        thread.join(timeout=30)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_one_request_is_one_trace_through_outbox_relay_kafka_and_consumer(
    settings: Settings,
    kafka_bootstrap: str,
    topic_prefix: str,
    exporter: InMemorySpanExporter,
    tracing: Tracing,
) -> None:
    cluster = settings.model_copy(
        update={"kafka_bootstrap_servers": kafka_bootstrap, "kafka_topic_prefix": topic_prefix}
    )
    topic = f"{topic_prefix}task.created"
    with TestClient(create_app(cluster, tracing=tracing)) as client:
        headers = register(client)
        exporter.clear()
        task = create_task(client, headers, title="traced")
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.relay().run_once() == (1, 0)
        consumer = StatsConsumer(
            runtime.handler,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"{topic_prefix}stats",
            topic_prefix=topic_prefix,
            tracer=tracing.tracer,
        )
        _consume_until(
            consumer,
            lambda: any(s.name == f"process {topic}" for s in exporter.get_finished_spans()),
        )
        with runtime.sessions() as session:
            row = session.scalars(select(OutboxEvent)).one()

    spans = list(exporter.get_finished_spans())
    request = _by_name(spans, "POST /api/v1/tasks")
    trace_id = request.context.trace_id
    publish, process = _by_name(spans, f"publish {topic}"), _by_name(spans, f"process {topic}")
    # The row and the CloudEvent carry the request's context; the relay's span is its child,
    # and the consumer's the child of the relay's (through the record header).
    context = request.context
    carried = f"00-{_hex(trace_id, 32)}-{_hex(context.span_id, 16)}-{_hex(context.trace_flags, 2)}"
    assert row.traceparent == carried
    assert json.loads(row.payload)["traceparent"] == carried
    assert (request.kind, _parent_id(request)) == (SpanKind.SERVER, None)
    assert publish.context.trace_id == process.context.trace_id == trace_id
    assert (publish.kind, _parent_id(publish)) == (SpanKind.PRODUCER, request.context.span_id)
    assert (process.kind, _parent_id(process)) == (SpanKind.CONSUMER, publish.context.span_id)
    assert process.attributes is not None
    assert process.attributes["messaging.message.id"] == json.loads(row.payload)["id"]
    assert [link.context.span_id for link in process.links] == [request.context.span_id]
    # The outbox write is a statement span inside the request, in the same trace.
    inserts = [
        s
        for s in spans
        if s.context.trace_id == trace_id and "INSERT INTO outbox" in str(s.attributes)
    ]
    assert [_parent_id(s) for s in inserts] == [request.context.span_id]
    lines = tree(spans, trace_id)
    print("\n".join(["one trace, end to end:", *lines]))
    assert lines[0] == "POST /api/v1/tasks [SERVER]"
    assert f"  publish {topic} [PRODUCER]" in lines
    assert f"    process {topic} [CONSUMER]" in lines
    assert task["title"] == "traced"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_record_without_a_header_is_traced_from_the_cloudevents_traceparent(
    sessions: sessionmaker[Session],
    kafka_bootstrap: str,
    topic_prefix: str,
    exporter: InMemorySpanExporter,
    tracing: Tracing,
) -> None:
    """Another publisher (Debezium) sends no header: the event's own context is the parent."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    traced = _event(TRACEPARENT.format(trace=trace_id, span=span_id))
    topic = f"{topic_prefix}task.created"
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, value=traced.to_json().encode(), key=b"k")
    producer.flush(30)
    consumer = StatsConsumer(
        StatsHandler(sessions, Metrics()),
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic_prefix}stats",
        topic_prefix=topic_prefix,
        tracer=tracing.tracer,
    )
    _consume_until(consumer, lambda: len(exporter.get_finished_spans()) == 1)
    (process,) = exporter.get_finished_spans()
    assert process.name == f"process {topic}"
    assert process.context.trace_id == int(trace_id, 16)
    assert _parent_id(process) == int(span_id, 16)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("same_trace", [True, False], ids=["daprd-traced", "daprd-untraced"])
def test_a_dapr_delivery_is_processed_in_the_events_trace(
    settings: Settings, exporter: InMemorySpanExporter, tracing: Tracing, same_trace: bool
) -> None:
    """daprd sends its own span's context as the request's ``traceparent`` when its tracing is
    on: the process span is a child of the request's span then. With daprd's tracing off, the
    request starts a trace of its own, and the process span stays in the event's."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    delivered = _event(TRACEPARENT.format(trace=trace_id, span=span_id))
    sidecar_trace = trace_id if same_trace else uuid.uuid4().hex
    sidecar = TRACEPARENT.format(trace=sidecar_trace, span=uuid.uuid4().hex[:16])
    with TestClient(create_app(settings, tracing=tracing)) as client:
        answer = client.post(
            "/events/task/created",
            content=delivered.to_json(),
            headers={"traceparent": sidecar, "content-type": "application/cloudevents+json"},
        )
    assert answer.json() == {"status": "SUCCESS"}
    spans = list(exporter.get_finished_spans())
    process = _by_name(spans, "process task.created")
    request = _by_name(spans, "POST /events/task/{kind}")
    assert process.context.trace_id == int(trace_id, 16)
    assert process.parent is not None
    parent = request.context.span_id if same_trace else int(span_id, 16)
    assert process.parent.span_id == parent
    # The handler's statements run inside the process span.
    statements = [s for s in spans if s.parent and s.parent.span_id == process.context.span_id]
    assert statements, "no statement span under the process span"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_tracing_off_carries_no_context_and_makes_no_span(settings: Settings) -> None:
    off = Tracing()
    assert off.tracer is None
    with TestClient(create_app(settings, tracing=off)) as client:
        headers = register(client)
        create_task(client, headers, title="untraced")
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        with runtime.sessions() as session:
            row = session.scalars(select(OutboxEvent)).one()
    assert row.traceparent is None
    assert "traceparent" not in json.loads(row.payload)


def test_a_malformed_traceparent_is_no_context() -> None:
    assert context_of("00-not-a-trace-01") is None
    assert context_of(None) is None
    good = TRACEPARENT.format(trace="1" * 32, span="2" * 16)
    assert context_of(good) is not None
