"""The cluster add-ons a stack turns on, and what the app's objects must wait for.

The app's Dapr Components, its cert-manager annotations and its PodMonitors and PrometheusRule
only work once the add-ons' CRDs and webhooks are in: ``dapr_ready``, ``cert_manager_ready`` and
``monitoring_ready`` are the resources to pass as ``depends_on``; ``tracing_ready`` is what the
pods that export spans wait for. They are empty when an add-on
is off (the cluster is assumed to have it).
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.addons.cert_manager import CertManager, CertManagerArgs
from infra.addons.cloud import CloudName
from infra.addons.dapr import DaprControlPlane, DaprControlPlaneArgs
from infra.addons.ingress_nginx import IngressNginx, IngressNginxArgs
from infra.addons.jaeger import Jaeger, JaegerArgs
from infra.addons.kube_prometheus_stack import KubePrometheusStack, KubePrometheusStackArgs
from infra.addons.metrics_server import MetricsServer, MetricsServerArgs
from infra.addons.settings import AddonsSettings, check_for_cloud
from infra.component import child_options


class ClusterAddonsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: AddonsSettings = Field(description="The stack's `addons` block.")
    cloud: CloudName = Field(default="none", description="The stack's cluster.provider.")
    ingress_class: str = Field(
        default="nginx", description="The app Ingress's class; HTTP-01 challenges go through it."
    )

    @model_validator(mode="after")
    def _fits_cloud(self) -> ClusterAddonsArgs:
        check_for_cloud(self.settings, self.cloud, self.ingress_class)
        return self


class ClusterAddons(pulumi.ComponentResource):
    """Each enabled add-on as its own component, in the order their dependencies need."""

    ingress_class_name: str
    dapr_ready: list[pulumi.Resource]
    cert_manager_ready: list[pulumi.Resource]
    monitoring_ready: list[pulumi.Resource]
    tracing_ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:ClusterAddons", name, None, opts)
        settings = args.settings
        child = child_options(self, opts)
        self.ingress_class_name = args.ingress_class
        ingress_ready: list[pulumi.Resource] = []
        if settings.ingress_nginx.enabled:
            ingress = IngressNginx(
                f"{name}-ingress-nginx",
                IngressNginxArgs(settings=settings.ingress_nginx, cloud=args.cloud),
                child,
            )
            ingress_ready.append(ingress)
        self.cert_manager_ready = []
        if settings.cert_manager.enabled:
            # HTTP-01 challenges are answered through the ingress controller, so it goes first.
            cert_manager = CertManager(
                f"{name}-cert-manager",
                CertManagerArgs(settings=settings.cert_manager, ingress_class=args.ingress_class),
                pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=ingress_ready)
                ),
            )
            self.cert_manager_ready = list(cert_manager.ready)
        self.dapr_ready = []
        if settings.dapr.enabled:
            dapr = DaprControlPlane(
                f"{name}-dapr", DaprControlPlaneArgs(settings=settings.dapr), child
            )
            self.dapr_ready = list(dapr.ready)
        if settings.metrics_server.enabled:
            MetricsServer(f"{name}-metrics-server", MetricsServerArgs(), child)
        self.monitoring_ready = []
        if settings.kube_prometheus_stack.enabled:
            monitoring = KubePrometheusStack(
                f"{name}-kube-prometheus-stack",
                KubePrometheusStackArgs(settings=settings.kube_prometheus_stack),
                child,
            )
            self.monitoring_ready = list(monitoring.ready)
        self.tracing_ready = []
        if settings.jaeger.enabled:
            self.tracing_ready = list(Jaeger(f"{name}-jaeger", JaegerArgs(), child).ready)
        self.register_outputs({"ingress_class_name": self.ingress_class_name})
