"""The Dapr control plane (operator, sentry, placement, scheduler, sidecar injector).

Installed as a ``helm.v4.Chart``: the chart has no install hooks, and its CRDs sit in the
chart's ``crds/`` directory, which Helm installs once and never upgrades. Rendered by Pulumi,
every CRD is a resource of its own that upgrades with the chart, and the app's Components,
Configuration and Subscriptions can depend on the chart, i.e. on the CRDs being established
and the operator running.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes.meta.v1 as meta
from pydantic import BaseModel, ConfigDict, Field

from infra.addons.charts import PinnedChart, helm_chart
from infra.addons.settings import DaprSettings
from infra.component import child_options
from infra.labels import MANAGED_BY, PART_OF

CHART = PinnedChart(name="dapr", version="1.16.2", repo="https://dapr.github.io/helm-charts/")
NAMESPACE = "dapr-system"


class DaprControlPlaneArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: DaprSettings = Field(description="The stack's addons.dapr block.")


class DaprControlPlane(pulumi.ComponentResource):
    """``ready`` is what the app's Dapr objects depend on: the chart with its CRDs."""

    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: DaprControlPlaneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:DaprControlPlane", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=meta.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                },
            ),
            opts=child_options(self, opts),
        )
        chart = helm_chart(
            f"{name}-chart",
            CHART,
            namespace=NAMESPACE,
            values={
                "global": {
                    "ha": {"enabled": args.settings.ha},
                    "mtls": {"enabled": True},
                    "logAsJson": True,
                    "prometheus": {"enabled": True},
                },
                # The app namespace enforces the restricted Pod Security Standard, which
                # rejects an injected daprd that keeps any capability.
                "dapr_sidecar_injector": {"sidecarDropALLCapabilities": True},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        self.ready = [chart]
        self.register_outputs({"namespace": NAMESPACE})
