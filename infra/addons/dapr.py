"""The Dapr control plane (operator, sentry, placement, scheduler, sidecar injector).

Installed as a ``helm.v4.Chart``: the chart has no install hooks, and its CRDs sit in the
chart's ``crds/`` directory, which Helm installs once and never upgrades. Rendered by Pulumi,
every CRD is a resource of its own that upgrades with the chart, and the app's Components and
Configuration can depend on the chart, i.e. on the CRDs being established and the operator
running.

mTLS is set here because Dapr reads it only from the control plane's ``daprsystem``
Configuration, which the chart writes from ``global.mtls``; an app's Configuration cannot.
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

CHART = PinnedChart(name="dapr", version="1.16.5", repo="https://dapr.github.io/helm-charts/")
NAMESPACE = "dapr-system"
WORKLOAD_CERT_TTL = "24h"
ALLOWED_CLOCK_SKEW = "15m"
"""Lifetime of the sidecars' certificates and the skew tolerated on them: Dapr's defaults,
stated so a change is a reviewed one. They land in the ``daprsystem`` Configuration, the only
one Dapr reads mTLS from."""


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
                    "mtls": {
                        "enabled": args.settings.mtls,
                        "workloadCertTTL": WORKLOAD_CERT_TTL,
                        "allowedClockSkew": ALLOWED_CLOCK_SKEW,
                    },
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
