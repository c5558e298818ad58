"""An event's W3C trace context, from the request that caused it to the consumer that applies it.

The path (docs/traces.md):

1. The request's span context is taken when the event is made (``current_traceparent``) and
   travels in the CloudEvent's ``traceparent`` extension (CloudEvents' distributed-tracing
   extension: the context of the event's creation, never rewritten) and in the outbox row's
   ``traceparent`` column, which the relay reads without parsing the payload.
2. The relay's PRODUCER span (``publish <topic>``) is a child of that context and puts its own
   context in the Kafka record's ``traceparent`` header, as OpenTelemetry's messaging
   conventions do.
3. The native consumer's CONSUMER span (``process <topic>``) is a child of the header's context,
   or of the CloudEvent's when a record has no header (another publisher, such as Debezium).
   Through Dapr, daprd starts its span from the CloudEvent's ``traceparent`` and sends its own
   context to the app as the request's ``traceparent`` header; the process span joins the
   request's trace when it is the event's, and the event's context otherwise.

Events written untraced carry no context, and nothing downstream traces them.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.events.cloudevents import TaskEvent

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The current span's context as a ``traceparent`` value; ``None`` outside a trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_of(traceparent: str | bytes | None) -> Context | None:
    """The remote context a ``traceparent`` names; ``None`` when absent or malformed."""
    if not traceparent:
        return None
    value = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
    context = _PROPAGATOR.extract({TRACEPARENT: value})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _messaging(topic: str, operation: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation.type": operation,
    }


def start_publish_span(tracer: Tracer, topic: str, traceparent: str | None) -> Span | None:
    """The relay's span for one outbox row, or ``None`` for a row written outside a trace."""
    parent = context_of(traceparent)
    if parent is None:
        return None
    return tracer.start_span(
        f"publish {topic}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes=_messaging(topic, "send"),
    )


def record_headers(span: Span) -> list[tuple[str, str | bytes | None]]:
    """The Kafka record headers that carry ``span``'s context to the consumer."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    headers: list[tuple[str, str | bytes | None]] = list(carrier.items())
    return headers


def end_publish_spans(spans: Sequence[Span | None], delivered: Sequence[bool]) -> None:
    for span, ok in zip(spans, delivered, strict=True):
        if span is not None:
            if not ok:
                span.set_status(Status(StatusCode.ERROR, "not acknowledged by the broker"))
            span.end()


def start_process_span(
    tracer: Tracer, topic: str, event: TaskEvent, delivered_in: Context | None
) -> Span | None:
    """The consumer's span for one event: a child of ``delivered_in`` (the record header's or
    the Dapr request's context) when that is the event's trace, else of the event's own
    context, which it always links to. ``None`` for an event made outside a trace."""
    created = context_of(event.traceparent)
    if created is None:
        return None
    created_span = trace.get_current_span(created).get_span_context()
    parent = created
    if delivered_in is not None:
        delivery_span = trace.get_current_span(delivered_in).get_span_context()
        if delivery_span.trace_id == created_span.trace_id:
            parent = delivered_in
    return tracer.start_span(
        f"process {topic}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=[Link(created_span)],
        attributes={**_messaging(topic, "process"), "messaging.message.id": str(event.id)},
    )
