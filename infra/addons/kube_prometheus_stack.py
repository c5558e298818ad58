"""kube-prometheus-stack: the Prometheus Operator, Prometheus, Alertmanager, kube-state-metrics.

Installed as a ``helm.v3.Release`` because its admission webhook's certificate is made and
patched in by Helm hook jobs, which ``helm.v4.Chart`` would run unordered (see ``charts.py``).
Helm installs the chart's CRDs (``crds/``) with the release and never upgrades them: a chart
upgrade that changes them needs ``kubectl apply --server-side`` of the new CRDs first.

Prometheus selects every PodMonitor and PrometheusRule in every namespace, not only those
labelled with this release, so the stack's ``monitoring`` objects need no extra label.
kube-state-metrics gives the pod restart counts the restart alert reads. Grafana stays off
until the stack has dashboards and a generated admin credential (the chart's default password
is public).
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from infra.addons.charts import PinnedChart, helm_release
from infra.addons.settings import KubePrometheusStackSettings
from infra.component import child_options

CHART = PinnedChart(
    name="kube-prometheus-stack",
    version="79.7.1",
    repo="https://prometheus-community.github.io/helm-charts",
)
NAMESPACE = "monitoring"
"""Also the default of ``networkPolicies.monitoringNamespace``, which lets it scrape the app."""


class KubePrometheusStackArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: KubePrometheusStackSettings = Field(
        description="The stack's addons.kubePrometheusStack block."
    )


def values(settings: KubePrometheusStackSettings) -> dict[str, object]:
    """Chart values: select every monitor and rule, keep ``retentionDays`` of samples."""
    return {
        "grafana": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                "podMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "retention": f"{settings.retention_days}d",
                "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}},
            }
        },
    }


class KubePrometheusStack(pulumi.ComponentResource):
    """``ready`` is what the stack's PodMonitors and PrometheusRule wait for: the release,
    with the Operator's CRDs installed and its webhook answering."""

    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: KubePrometheusStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:KubePrometheusStack", name, None, opts)
        release = helm_release(
            f"{name}-release",
            CHART,
            namespace=NAMESPACE,
            values=values(args.settings),
            opts=child_options(self, opts),
        )
        self.ready = [release]
        self.register_outputs({"namespace": NAMESPACE})
