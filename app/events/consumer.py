"""`todo-api consume`: the stats handler behind a native Kafka consumer group.

Offsets are committed only after the handler has applied (or deliberately dropped) a message,
so a crash redelivers rather than loses; the handler's dedupe makes redelivery harmless. A
transient failure (database away) keeps the partition on the same message and retries with
backoff: within a partition, events of one task stay in order.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from opentelemetry.trace import Span, Tracer

from app.events import trace_context
from app.events.cloudevents import EventKind, TaskEvent
from app.events.handler import Outcome, StatsHandler, parse

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
# Messages applied in one transaction at most.
BATCH = 500
# After a batch that did not fill up, the pause that gathers the next: a transaction per
# message or two cost the consumer most of its CPU at a few hundred events/s (the relay's
# pause, app.events.relay, for the same reason).
FLOW_PAUSE_SECONDS = 0.01


def topics(prefix: str) -> list[str]:
    return [prefix + kind.topic for kind in EventKind]


class StatsConsumer:
    def __init__(
        self,
        handler: StatsHandler,
        *,
        bootstrap_servers: str,
        group_id: str,
        topic_prefix: str,
        extra_config: dict[str, Any] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """``tracer``: a span per traced event (app.events.trace_context); ``None``: none."""
        self._handler = handler
        self._tracer = tracer
        self._topics = topics(topic_prefix)
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "error_cb": lambda error: log.warning("kafka: %s", error.str()),
                "logger": logging.getLogger("app.kafka"),
                **(extra_config or {}),
            }
        )

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe(self._topics)
        try:
            while not stop.is_set():
                # consume(n, timeout) waits for n messages or the whole timeout, which at a
                # few hundred events/s held each one up to 0.5 s. Block for the first message
                # only, then take what has already arrived without waiting.
                first = self._consumer.poll(0.5)
                if first is None:
                    continue
                batch = [first, *self._consumer.consume(num_messages=BATCH - 1, timeout=0)]
                if not self._process(batch, stop):
                    return
                if len(batch) < BATCH and stop.wait(FLOW_PAUSE_SECONDS):
                    return
        finally:
            self._consumer.close()

    def _process(self, messages: list[Message], stop: threading.Event) -> bool:
        """Apply a batch of messages in one transaction, retrying while the database is away;
        commit their offsets after. False if stopped while retrying (nothing committed)."""
        events: list[TaskEvent] = []
        spans: list[Span] = []
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka: %s", error.str())
                continue
            offsets[(message.topic() or "", message.partition() or 0)] = (message.offset() or 0) + 1
            event = parse(message.value() or b"")
            if event is None:
                self._handler.dropped()
            else:
                events.append(event)
                if self._tracer is not None:
                    span = _process_span(self._tracer, message, event)
                    if span is not None:
                        spans.append(span)
        backoff = 0.5
        try:
            while events and self._handler.handle_batch(events) is Outcome.RETRY:
                if stop.wait(backoff):
                    return False
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            for span in spans:
                span.end()
        if offsets:
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=True,
            )
        return True


def _process_span(tracer: Tracer, message: Message, event: TaskEvent) -> Span | None:
    """From the record's ``traceparent`` header (the relay's span) or, without one, the event's."""
    header = dict(message.headers() or []).get(trace_context.TRACEPARENT)
    return trace_context.start_process_span(
        tracer, message.topic() or "", event, trace_context.context_of(header)
    )
