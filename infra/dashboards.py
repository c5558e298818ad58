"""The platform's Grafana dashboards, as typed Python: one source for the JSON and its checks.

Three dashboards (the API, the event pipeline end to end, the data services), each built from
:func:`infra.alerts.series` selectors, so a panel reads only its own stack's series, the same
way the alerts do. :class:`Dashboards` ships each one as a ConfigMap labelled
``grafana_dashboard: "1"``, which the Grafana sidecar of kube-prometheus-stack loads (when it
searches the stack's namespace). ``tests/infra/test_dashboards.py`` runs every panel's query
through ``promtool``; ``tests/app/test_monitoring_metrics.py`` checks that every metric a panel
reads is exported by the service or listed in ``infra/exporter_metrics.py``.

Panels use Grafana's ``$__rate_interval`` (at least four scrape intervals, so a rate never sees
fewer than two samples); :data:`RATE_INTERVAL` names it so a check can substitute a duration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra.alerts import metric_names, series
from infra.component import ComponentArgs, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

SCHEMA_VERSION = 39
"""Grafana's classic dashboard JSON model at Grafana 10.4-11; newer Grafanas migrate it up."""
RATE_INTERVAL = "$__rate_interval"
SIDECAR_LABEL = "grafana_dashboard"
"""The label the Grafana sidecar of kube-prometheus-stack watches ConfigMaps for."""
UID_LENGTH = 40
"""Grafana refuses dashboard uids longer than this."""
GRID_WIDTH = 24
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
"""Every panel and query reads the Prometheus the dashboard's ``datasource`` variable picks."""

PanelKind = Literal["timeseries", "stat"]
_SIZE: dict[PanelKind, tuple[int, int]] = {"timeseries": (12, 8), "stat": (6, 4)}
"""Width and height on Grafana's 24-column grid: graphs two a row, single numbers four."""


@dataclass(frozen=True)
class Query:
    """One line of a panel: a PromQL expression and the legend of each series it returns."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A graph or a single number; ``description`` says what to look for in it."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: PanelKind = "timeseries"

    @property
    def metrics(self) -> frozenset[str]:
        return frozenset().union(*(metric_names(q.expr) for q in self.queries))

    def model(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        width, height = _SIZE[self.kind]
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": width, "h": height},
            "fieldConfig": {"defaults": {"unit": self.unit}, "overrides": []},
            "options": {},
            "targets": [
                {
                    "refId": chr(ord("A") + i),
                    "datasource": DATASOURCE,
                    "expr": query.expr,
                    "legendFormat": query.legend,
                }
                for i, query in enumerate(self.queries)
            ],
        }


@dataclass(frozen=True)
class Dashboard:
    """One dashboard; ``slug`` names its ConfigMap, its file and (with the namespace) its uid."""

    slug: str
    title: str
    panels: tuple[Panel, ...]

    @property
    def metrics(self) -> frozenset[str]:
        return frozenset().union(*(panel.metrics for panel in self.panels))

    def model(self, namespace: str) -> dict[str, Any]:
        """Grafana's dashboard JSON; panels fill the grid left to right, row by row."""
        panels: list[dict[str, Any]] = []
        x = y = row_height = 0
        for panel_id, panel in enumerate(self.panels, start=1):
            width, height = _SIZE[panel.kind]
            if x + width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(panel.model(panel_id, x, y))
            x, row_height = x + width, max(row_height, height)
        return {
            "uid": child_name(namespace, self.slug, limit=UID_LENGTH),
            "title": f"Todo / {self.title} ({namespace})",
            "tags": ["todo", namespace],
            "timezone": "browser",
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "annotations": {"list": []},
            "links": [],
            "templating": {
                "list": [
                    {
                        "name": "datasource",
                        "label": "Prometheus",
                        "type": "datasource",
                        "query": "prometheus",
                        "current": {},
                        "hide": 0,
                        "refresh": 1,
                        "regex": "",
                        "options": [],
                    }
                ]
            },
            "panels": panels,
        }


def dashboards(namespace: str) -> list[Dashboard]:
    """Every dashboard of one stack."""

    def s(metric: str, **matchers: str) -> str:
        return series(metric, namespace, **matchers)

    def rate(metric: str, **matchers: str) -> str:
        return f"rate({s(metric, **matchers)}[{RATE_INTERVAL}])"

    requests = "todo_http_requests_total"
    latency = "todo_http_request_duration_seconds_bucket"
    return [
        Dashboard(
            "api",
            "API",
            (
                Panel(
                    "Requests by status",
                    "Answers per second by HTTP status: a rise in 5xx is the API failing, in "
                    "429 the login throttle refusing.",
                    (Query(f"sum by (status) ({rate(requests)})", "{{status}}"),),
                    unit="reqps",
                ),
                Panel(
                    "5xx ratio",
                    "Share of answers that are server errors; the TodoApiErrors alert fires "
                    "above its threshold.",
                    (
                        Query(
                            f"sum({rate(requests, status='~5..')}) / sum({rate(requests)})",
                            "5xx",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "Latency",
                    "Answer time at the 50th, 95th and 99th percentiles, over every route.",
                    tuple(
                        Query(f"histogram_quantile({q}, sum by (le) ({rate(latency)}))", f"p{p}")
                        for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))
                    ),
                    unit="s",
                ),
                Panel(
                    "p95 latency by route",
                    "Which route is slow: the 95th percentile of each route template.",
                    (
                        Query(
                            f"histogram_quantile(0.95, sum by (le, route) ({rate(latency)}))",
                            "{{route}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Requests by route",
                    "Answers per second by route template and method.",
                    (Query(f"sum by (method, route) ({rate(requests)})", "{{method}} {{route}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Cache errors",
                    "Redis calls that failed; each answer came from PostgreSQL instead.",
                    (Query(f"sum({rate('todo_cache_errors_total')})", "errors"),),
                    unit="ops",
                ),
            ),
        ),
        Dashboard(
            "pipeline",
            "Event pipeline",
            (
                Panel(
                    "Outbox backlog",
                    "Events written by the API and not yet published by the relay.",
                    (Query(f"max({s('todo_outbox_backlog')})", "waiting"),),
                ),
                Panel(
                    "Oldest unpublished event",
                    "Age of the oldest event in the outbox: it grows when the relay stalls, "
                    "however few events wait.",
                    (Query(f"max({s('todo_outbox_oldest_age_seconds')})", "age"),),
                    unit="s",
                ),
                Panel(
                    "Published by topic",
                    "Events Kafka acknowledged, per second and topic.",
                    (
                        Query(
                            f"sum by (topic) ({rate('todo_events_published_total')})", "{{topic}}"
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Publish failures by topic",
                    "Events Kafka refused; they stay in the outbox and are retried.",
                    (
                        Query(
                            f"sum by (topic) ({rate('todo_events_publish_failed_total')})",
                            "{{topic}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Consumer outcomes",
                    "Events the stats handler applied, skipped as duplicates, dropped, or sent "
                    "back for redelivery.",
                    (
                        Query(
                            f"sum by (outcome) ({rate('todo_events_consumed_total')})",
                            "{{outcome}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Consumer lag",
                    "Events each consumer group has still to read, per topic (kafka_exporter).",
                    (
                        Query(
                            f"sum by (consumergroup, topic) ({s('kafka_consumergroup_lag')})",
                            "{{consumergroup}} {{topic}}",
                        ),
                    ),
                ),
                Panel(
                    "Rows pruned",
                    "Published outbox rows and processed event ids deleted after their "
                    "retention, per second and table.",
                    (Query(f"sum by (table) ({rate('todo_rows_pruned_total')})", "{{table}}"),),
                    unit="ops",
                ),
            ),
        ),
        Dashboard(
            "data-services",
            "Data services",
            (
                Panel(
                    "PostgreSQL up",
                    "1 when the exporter sidecar reached PostgreSQL; empty when the pod is gone.",
                    (Query(f"min({s('pg_up')})", "up"),),
                    kind="stat",
                ),
                Panel(
                    "Redis up",
                    "1 when the exporter sidecar reached Redis.",
                    (Query(f"min({s('redis_up')})", "up"),),
                    kind="stat",
                ),
                Panel(
                    "Kafka brokers",
                    "Brokers in the cluster, as the Kafka exporter sees it.",
                    (Query(f"max({s('kafka_brokers')})", "brokers"),),
                    kind="stat",
                ),
                Panel(
                    "Under-replicated partitions",
                    "Partitions with fewer in-sync copies than replicas: a broker down or behind.",
                    (
                        Query(
                            f"sum({s('kafka_topic_partition_under_replicated_partition')})",
                            "partitions",
                        ),
                    ),
                    kind="stat",
                ),
                Panel(
                    "Kafka partitions by topic",
                    "Partitions of each topic.",
                    (Query(f"max by (topic) ({s('kafka_topic_partitions')})", "{{topic}}"),),
                ),
                Panel(
                    "PostgreSQL connections",
                    "Backends connected to each database.",
                    (
                        Query(
                            f"sum by (datname) ({s('pg_stat_database_numbackends')})",
                            "{{datname}}",
                        ),
                    ),
                ),
                Panel(
                    "PostgreSQL transactions",
                    "Commits and rollbacks per second, over every database.",
                    (
                        Query(f"sum({rate('pg_stat_database_xact_commit')})", "commits"),
                        Query(f"sum({rate('pg_stat_database_xact_rollback')})", "rollbacks"),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Redis clients",
                    "Clients connected to Redis: the API's pools and the exporter.",
                    (Query(f"max({s('redis_connected_clients')})", "clients"),),
                ),
                Panel(
                    "Redis memory",
                    "Memory Redis uses for the cache.",
                    (Query(f"max({s('redis_memory_used_bytes')})", "used"),),
                    unit="bytes",
                ),
                Panel(
                    "Container restarts",
                    "Restarts of each container in the last hour (kube-state-metrics): crash "
                    "loops, OOM kills, failing liveness probes.",
                    (
                        Query(
                            "sum by (pod, container) "
                            f"(increase({s('kube_pod_container_status_restarts_total')}[1h]))",
                            "{{pod}} {{container}}",
                        ),
                    ),
                ),
            ),
        ),
    ]


class DashboardsArgs(ComponentArgs):
    """Only where and for whom: the dashboards read their stack's namespace, nothing to set."""


class Dashboards(pulumi.ComponentResource):
    """One ConfigMap per dashboard, named ``<instance>-dashboard-<slug>``."""

    names: list[str]

    def __init__(
        self, name: str, args: DashboardsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Dashboards", name, None, opts)
        child = child_options(self, opts)
        self.names = []
        for dashboard in dashboards(args.namespace):
            component = f"dashboard-{dashboard.slug}"
            object_name = child_name(args.instance, component)
            k8s.core.v1.ConfigMap(
                f"{name}-{dashboard.slug}",
                metadata=object_meta(
                    object_name,
                    namespace=args.namespace,
                    labels={
                        **unversioned_labels("monitoring", args.instance, component),
                        SIDECAR_LABEL: "1",
                    },
                ),
                data={
                    f"{dashboard.slug}.json": json.dumps(
                        dashboard.model(args.namespace), indent=2, sort_keys=True
                    )
                },
                opts=child,
            )
            self.names.append(object_name)
        self.register_outputs({"names": self.names})
