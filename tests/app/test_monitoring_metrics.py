"""Every metric an alert or a dashboard panel reads is one the running code exports.

The service's metrics come from scraping the real API (its ``/metrics``) and a real
``todo-api relay`` process (its ``TODO_METRICS_PORT``), both on PostgreSQL with a real Kafka; the
exporters' from the list in ``infra/exporter_metrics.py``, pinned to their versions. A renamed
metric in ``app/metrics.py`` or a typo in an alert or a panel fails here, not silently in
production (an alert that never fires, a panel that stays empty).
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.main import create_app
from bench.processes import GUARD_S
from infra.alerts import AlertThresholds, alerts
from infra.dashboards import dashboards
from infra.exporter_metrics import exporter_metrics
from tests.app.conftest import make_settings
from tests.app.helpers import create_task, dead_port, register

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
"""What a scrape calls a family's series: a labelled family exports its names even before
its first sample."""


def exported(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def _scrape_relay(
    serve: Callable[..., subprocess.Popen[str]], settings: Settings, kafka_bootstrap: str
) -> str:
    port = dead_port()
    process = serve(
        "relay",
        TODO_DATABASE_URL=settings.database_url,
        TODO_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        TODO_METRICS_PORT=str(port),
    )
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
                text: str = answer.read().decode()
            if "todo_outbox_backlog" in text:
                return text
        except OSError:
            assert process.poll() is None, "the relay exited before serving its metrics"
        assert time.monotonic() < deadline, f"no relay metrics within {GUARD_S:.0f}s"
        time.sleep(0.2)


NS = "todo-app"
READERS: dict[str, frozenset[str]] = {
    **{f"alert {a.name}": a.metrics for a in alerts(NS, AlertThresholds())},
    **{f"dashboard {d.slug}": d.metrics for d in dashboards(NS)},
}
"""What each alert and dashboard reads, by who reads it."""


def _unknown(used: frozenset[str], api: set[str], relay: set[str]) -> set[str]:
    """Metrics neither the service exports nor an exporter lists."""
    service = {metric for metric in used if metric.startswith("todo_")}
    return (service - (api | relay)) | (used - service - set(exporter_metrics()))


def test_every_metric_an_alert_or_a_panel_reads_is_exported(
    serve: Callable[..., subprocess.Popen[str]],
    new_postgres: Callable[..., str],
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(new_postgres())
    with TestClient(create_app(settings)) as client:
        create_task(client, register(client))
        api = exported(client.get("/metrics").text)
    relay = exported(_scrape_relay(serve, settings, kafka_bootstrap))
    assert all(READERS.values()), "a reader reads no metric written by series()"
    unknown = {
        reader: missing
        for reader, used in READERS.items()
        if (missing := _unknown(used, api, relay))
    }
    assert unknown == {}, "read metrics that nothing exports and no exporter lists"
    # The check can fail: a misspelt service or exporter metric is reported.
    wrong = frozenset({"todo_outbox_backlogs", "pg_upp", "todo_http_requests_total"})
    assert _unknown(wrong, api, relay) == {"todo_outbox_backlogs", "pg_upp"}
    # Each side exports what is read from it: the relay its publishing, the API its answers.
    assert {"todo_events_publish_failed_total", "todo_outbox_oldest_age_seconds"} <= relay
    assert {"todo_http_requests_total", "todo_events_consumed_total"} <= api
