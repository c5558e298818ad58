"""The relay: moves outbox rows to Kafka, in batches, without losing or reordering them.

One batch is one database transaction: claim (row locks, app.events.outbox), produce the rows,
flush, mark the acknowledged ones in one UPDATE, commit. Throughput comes from the batch: one
round trip to claim thousands of rows, one flush per wave (usually one or two: a wave holds at
most one event per task, see ``outbox.waves``), one UPDATE.

The producer is idempotent with ``acks=all``: the broker drops the producer's own retries and
keeps each partition in send order. The key is the task id, so all events of a task land in one
partition, in outbox order. A row is marked only after its delivery report says the broker
has it; ``flush`` waits longer than the producer's message timeout, so every row gets a
definitive report within its batch and nothing is left in flight when the locks are released.

When the broker is away the batch fails, its rows stay unpublished, and the relay backs off
exponentially, checking the broker before it claims (and locks) rows again. Nothing is dropped.

Between batches the relay pauses. At rest the outbox's commit notification (PostgreSQL,
``app.events.wakeup``) ends the pause, so the first event after a quiet spell goes out at once.
While events flow it does not: the 10 ms pause gathers the next batch. Waking at every commit
ran a batch, with its round trips to PostgreSQL and Kafka, per event or two; at 200 writes/s on
two cores that CPU (the relay's, PostgreSQL's, the broker's) came out of the API's, whose write
p95 it pushed from about 10 ms to seconds (`bench.events`, issue 15). Gathering costs up to the
pause in commit-to-published latency.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from opentelemetry.trace import Span, Tracer
from sqlalchemy.orm import Session, sessionmaker

from app.events import outbox, trace_context
from app.events.outbox import PendingEvent
from app.events.wakeup import OutboxWakeup
from app.metrics import Metrics

log = logging.getLogger(__name__)

# A task's events beyond this many in one batch wait for the next batch (one flush per wave).
MAX_WAVES_PER_BATCH = 16
# Pause after a batch that found events (measured: 0.2 s fixed polling put commit-to-published
# at p50 126 ms under 200 writes/s; polling every 10 ms fixed costs ~13% of a core when idle).
BUSY_POLL_SECONDS = 0.01
# Extra time ``flush`` allows beyond the message timeout, so every delivery report arrives.
FLUSH_GRACE_SECONDS = 5.0


class Publisher(Protocol):
    """Where the relay sends events: Kafka, or the in-process handler (app.events.local)."""

    def publish(self, events: Sequence[PendingEvent]) -> set[int]:
        """Deliver the events; return the ids of those delivered."""

    def reachable(self, timeout: float) -> bool:
        """Whether a batch is worth claiming, while backing off."""


class KafkaPublisher:
    """An idempotent producer that reports which events the broker acknowledged."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str,
        message_timeout_ms: int,
        tracer: Tracer | None = None,
    ) -> None:
        """``tracer``: a span per traced event (app.events.trace_context); ``None``: none."""
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": message_timeout_ms,
            # Large batches: the relay sends thousands of small records per flush.
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "error_cb": self._on_error,
            # librdkafka's own log lines go through our JSON logging, not raw to stderr.
            "logger": logging.getLogger("app.kafka"),
        }
        self._prefix = topic_prefix
        self._flush_timeout = message_timeout_ms / 1000 + FLUSH_GRACE_SECONDS
        self._fatal: KafkaError | None = None
        self._tracer = tracer
        self._producer = Producer(self._config)

    @property
    def producer_config(self) -> dict[str, Any]:
        """The producer's settings; the benchmark's bare producer reuses them, like for like."""
        return dict(self._config)

    def publish(self, events: Sequence[PendingEvent]) -> set[int]:
        """Send all events, wait for every report, return the ids the broker acknowledged."""
        if self._fatal is not None:
            # A fatal error (e.g. a fenced idempotent producer) ends this producer's life.
            log.warning("recreating the Kafka producer after a fatal error: %s", self._fatal)
            self._fatal = None
            self._producer = Producer(self._config)
        # One shared callback that records failures only: a closure per message would cost more
        # than producing it. A failed message is known by its value (each holds its event id).
        failed: list[bytes | str | None] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failed.append(message.value())

        producer = self._producer
        values = [event.payload.encode() for event in events]
        spans = self._start_spans(events)
        for event, value, span in zip(events, values, spans, strict=True):
            while True:
                try:
                    producer.produce(
                        self._prefix + event.topic,
                        value=value,
                        key=str(event.task_id).encode(),
                        headers=None if span is None else trace_context.record_headers(span),
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    # The local queue is full: let deliveries drain it, then try again.
                    producer.poll(0.1)
        remaining = producer.flush(self._flush_timeout)
        lost = set(failed)
        acknowledged = [not remaining and value not in lost for value in values]
        trace_context.end_publish_spans(spans, acknowledged)
        if remaining:
            log.error(
                "%d deliveries unreported after flush; the batch stays in the outbox", remaining
            )
            return set()
        if failed:
            log.warning(
                "%d of %d deliveries failed; they stay in the outbox", len(failed), len(events)
            )
        return {event.id for event, ok in zip(events, acknowledged, strict=True) if ok}

    def _start_spans(self, events: Sequence[PendingEvent]) -> list[Span | None]:
        """One producer span per traced event, from produce to its delivery report."""
        tracer = self._tracer
        if tracer is None:
            return [None] * len(events)
        return [
            trace_context.start_publish_span(tracer, self._prefix + e.topic, e.traceparent)
            for e in events
        ]

    def reachable(self, timeout: float) -> bool:
        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
        log.warning("kafka: %s", error.str())


class Relay:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        publisher: Publisher,
        metrics: Metrics,
        *,
        batch_size: int,
        idle_seconds: float,
        max_backoff_seconds: float,
        wakeup: OutboxWakeup | None = None,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._metrics = metrics
        self._batch_size = batch_size
        self._idle = idle_seconds
        self._max_backoff = max_backoff_seconds
        self._wakeup = wakeup

    def run_once(self) -> tuple[int, int]:
        """Publish one batch; returns (published, failed)."""
        with self._sessions() as session, session.begin():
            events = outbox.claim(session, self._batch_size)
            if not events:
                return 0, 0
            delivered = self._publish_in_waves(events)
            marked = outbox.deliverable_prefix(events, delivered)
            outbox.mark_published(session, [event.id for event in marked])
        self._count(events, {event.id for event in marked})
        return len(marked), len(events) - len(marked)

    def _publish_in_waves(self, events: Sequence[PendingEvent]) -> set[int]:
        """Each task's next event is produced only once the previous one is acknowledged."""
        delivered: set[int] = set()
        failed_tasks: set[uuid.UUID] = set()
        for wave in outbox.waves(events, MAX_WAVES_PER_BATCH):
            # After a failure, a task's later events wait: sending them would overtake it.
            ready = [event for event in wave if event.task_id not in failed_tasks]
            if not ready:
                continue
            acknowledged = self._publisher.publish(ready)
            delivered |= acknowledged
            failed_tasks.update(e.task_id for e in ready if e.id not in acknowledged)
        return delivered

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; back off while the broker or the database is away."""
        try:
            self._run(stop)
        finally:
            if self._wakeup is not None:
                self._wakeup.close()

    def _run(self, stop: threading.Event) -> None:
        backoff = 0.0
        pause = self._idle
        while not stop.is_set():
            try:
                if backoff and not self._publisher.reachable(timeout=min(backoff, 5.0)):
                    published, failed = 0, 1
                else:
                    published, failed = self.run_once()
            except Exception:  # the database may be away too; the loop must outlive it
                log.exception("relay batch failed; rows stay in the outbox")
                published, failed = 0, 1
            if failed:
                backoff = min(max(backoff * 2, 0.5), self._max_backoff)
                log.warning("relay backing off %.1fs (%d events not acknowledged)", backoff, failed)
                stop.wait(backoff)
            else:
                backoff = 0.0
                if published < self._batch_size:
                    # Poll again soon while events flow, and slow down to the idle pause once
                    # they stop: low latency under load, little CPU (and database) at rest.
                    busy = min(BUSY_POLL_SECONDS, self._idle)
                    pause = busy if published else min(pause * 2, self._idle)
                    if self._wakeup is None:
                        stop.wait(pause)
                    elif published:
                        # Events flow: the pause gathers the next batch.
                        stop.wait(pause)
                        self._wakeup.drain()
                    else:
                        # At rest, a commit to the outbox ends the pause early.
                        self._wakeup.wait(stop, pause)

    def _count(self, events: Sequence[PendingEvent], marked: set[int]) -> None:
        published = Counter(event.topic for event in events if event.id in marked)
        failed = Counter(event.topic for event in events if event.id not in marked)
        for topic, count in published.items():
            self._metrics.events_published.labels(topic).inc(count)
        for topic, count in failed.items():
            self._metrics.events_failed.labels(topic).inc(count)
