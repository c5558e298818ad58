"""Prometheus metrics, in a registry owned by one app (or one relay/consumer process).

A per-instance registry, not the global default, so tests can build many apps in one process
and each process exports only what it does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.events.outbox import Backlog

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "todo_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "todo_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.events_published = Counter(
            "todo_events_published",
            "Outbox events the broker acknowledged, by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.events_failed = Counter(
            "todo_events_publish_failed",
            "Outbox events the broker did not acknowledge (they stay in the outbox), by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.events_consumed = Counter(
            "todo_events_consumed",
            "Events handed to the stats handler, by outcome (applied, duplicate, drop, retry).",
            ["outcome"],
            registry=self.registry,
        )
        self.rows_pruned = Counter(
            "todo_rows_pruned",
            "Rows deleted because they outlived their retention, by table (outbox: published "
            "events; processed_events: applied event ids).",
            ["table"],
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "todo_cache_errors",
            "Redis calls that failed; the answer came from the database instead.",
            registry=self.registry,
        )

    def watch_backlog(self, read: Callable[[], Backlog]) -> Collector:
        """Export the outbox backlog, read when scraped; returns it for ``unregister``."""
        collector = _BacklogCollector(read)
        self.registry.register(collector)
        return collector


BACKLOG = "todo_outbox_backlog"
BACKLOG_HELP = "Outbox events not yet published."
BACKLOG_AGE = "todo_outbox_oldest_age_seconds"
BACKLOG_AGE_HELP = "Age of the oldest outbox event not yet published; 0 when none waits."


class _BacklogCollector(Collector):
    def __init__(self, read: Callable[[], Backlog]) -> None:
        self._read = read

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(BACKLOG, BACKLOG_HELP)
        yield GaugeMetricFamily(BACKLOG_AGE, BACKLOG_AGE_HELP)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            backlog = self._read()
        except Exception:  # a scrape must not fail because the database is away
            log.warning("outbox backlog not exported: database unavailable", exc_info=True)
            return
        yield GaugeMetricFamily(BACKLOG, BACKLOG_HELP, value=backlog.count)
        yield GaugeMetricFamily(
            BACKLOG_AGE, BACKLOG_AGE_HELP, value=backlog.oldest_age_seconds(datetime.now(UTC))
        )
