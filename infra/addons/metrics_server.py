"""metrics-server: the resource metrics API that HorizontalPodAutoscalers read.

Installed as a ``helm.v4.Chart``: a Deployment, a Service, RBAC and an APIService, no hooks,
so every object is previewed and awaited on its own. GKE and AKS run their own metrics-server;
:func:`infra.addons.settings.check_for_cloud` refuses a second one there.
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from infra.addons.charts import PinnedChart, helm_chart
from infra.component import child_options

CHART = PinnedChart(
    name="metrics-server",
    version="3.13.0",
    repo="https://kubernetes-sigs.github.io/metrics-server/",
)
NAMESPACE = "kube-system"


class MetricsServerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    replicas: int = Field(default=2, ge=1, le=5, description="Two survive a node drain.")


class MetricsServer(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:MetricsServer", name, None, opts)
        self.chart = helm_chart(
            f"{name}-chart",
            CHART,
            namespace=NAMESPACE,
            values={
                "replicas": args.replicas,
                "podDisruptionBudget": {"enabled": args.replicas > 1, "minAvailable": 1},
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            },
            opts=child_options(self, opts),
        )
        self.register_outputs({"namespace": NAMESPACE})
