"""What Prometheus scrapes in a stack: one PodMonitor per workload that serves metrics.

PodMonitors rather than ServiceMonitors: the relay and the Kafka exporter have no Service, and
a data service's client Service would scrape through a load balancer; a PodMonitor selects the
pods by their never-changing selector labels and scrapes each one by its named port.

The ``monitoring`` settings turn this, the alerts (``infra/alerts.py``) and the dashboards
(``infra/dashboards.py``) on. They need the
Prometheus Operator's CRDs: ``addons.kubePrometheusStack`` installs it, or the cluster has one.
A Prometheus of the kube-prometheus-stack add-on selects every PodMonitor and PrometheusRule; one
you run yourself may select by label, which ``monitoring.labels`` adds to both.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, field_validator

from infra.alerts import AlertThresholds
from infra.component import ComponentArgs, SettingsModel, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

CRDS: tuple[str, ...] = (
    "podmonitors.monitoring.coreos.com",
    "prometheusrules.monitoring.coreos.com",
)
"""The Prometheus Operator's CRDs the stack's monitoring objects need."""
_DURATION = re.compile(r"^[1-9][0-9]*(s|m)$")


class MonitoringSettings(SettingsModel):
    enabled: bool = Field(
        default=False,
        description="PodMonitors for the API, the relay and the exporters, the alerts and the "
        "Grafana dashboards; needs the Prometheus Operator (addons.kubePrometheusStack or the "
        "cluster's own).",
    )
    scrape_interval: str = Field(
        default="30s", description="How often Prometheus scrapes each pod, e.g. `30s`, `1m`."
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels on the PodMonitors and the PrometheusRule, for a Prometheus "
        "that selects by label (e.g. `release: <its Helm release>`).",
    )
    alerts: AlertThresholds = Field(
        default_factory=AlertThresholds, description="Where each alert fires (docs/monitoring.md)."
    )

    @field_validator("scrape_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(
                f"monitoring.scrapeInterval={value!r} is not a duration in seconds or minutes "
                "such as '30s' or '1m'"
            )
        return value


class ScrapeTarget(BaseModel):
    """Pods that serve metrics: their selector and the name of the port to scrape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = Field(description="Names the PodMonitor, e.g. `backend`.")
    selector: dict[str, str] = Field(description="The workload's selector labels.")
    port: str = Field(description="The container port's name.")
    path: str = Field(default="/metrics", description="The metrics path.")


class PodMonitorsArgs(ComponentArgs):
    settings: MonitoringSettings = Field(description="The stack's `monitoring` block.")
    targets: tuple[ScrapeTarget, ...] = Field(description="Every workload to scrape.")


class PodMonitors(pulumi.ComponentResource):
    """One PodMonitor per scrape target, named ``<instance>-<component>``."""

    names: list[str]

    def __init__(
        self, name: str, args: PodMonitorsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:PodMonitors", name, None, opts)
        child = child_options(self, opts)
        self.names = []
        for target in args.targets:
            object_name = child_name(args.instance, target.component)
            k8s.apiextensions.CustomResource(
                f"{name}-{target.component}",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=object_meta(
                    object_name,
                    namespace=args.namespace,
                    labels={
                        **args.settings.labels,
                        **unversioned_labels("monitoring", args.instance, target.component),
                    },
                ),
                spec={
                    "selector": {"matchLabels": target.selector},
                    "podMetricsEndpoints": [
                        {
                            "port": target.port,
                            "path": target.path,
                            "interval": args.settings.scrape_interval,
                        }
                    ],
                },
                opts=child,
            )
            self.names.append(object_name)
        self.register_outputs({"names": self.names})
