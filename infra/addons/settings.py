"""Typed, validated settings for the cluster add-ons: each one optional, all off by default.

A cluster the stack did not make usually has its add-ons already; turning one on is a choice
the stack file makes. Rules that depend on the cloud (no second metrics-server where the cloud
runs one, the ``gce`` ingress class only on GKE) are checked by :func:`check_for_cloud`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.addons.cloud import CLOUDS, CloudName, LoadBalancer
from infra.component import SettingsModel

IssuerName = Literal["letsencrypt-staging", "letsencrypt-prod"]
CLASS_NAME = "nginx"
"""The Ingress class ingress-nginx serves."""


class IngressNginxSettings(SettingsModel):
    enabled: bool = Field(default=False, description="Install ingress-nginx; off by default.")
    replicas: int = Field(
        default=2, ge=1, le=10, description="Two keep ingress up through a node drain."
    )
    load_balancer: LoadBalancer = Field(
        default="public",
        description="'public' faces the internet (the app's URL); 'internal' stays in the VPC.",
    )


class CertManagerSettings(SettingsModel):
    enabled: bool = Field(default=False, description="Install cert-manager and its issuers.")
    acme_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Let's Encrypt's contact for expiry notices; required when enabled.",
    )

    @model_validator(mode="after")
    def _email(self) -> CertManagerSettings:
        if self.enabled and self.acme_email is None:
            raise ValueError(
                "addons.certManager.acmeEmail is required when addons.certManager.enabled=true"
            )
        return self


class DaprSettings(SettingsModel):
    enabled: bool = Field(default=False, description="Install the Dapr control plane.")
    ha: bool = Field(
        default=False, description="Three replicas of each control-plane service (prod)."
    )
    mtls: bool = Field(
        default=True,
        description="Mutual TLS between sidecars, certificates from Sentry (the `daprsystem` "
        "Configuration). Off sends service calls in plaintext; only for debugging.",
    )


class MetricsServerSettings(SettingsModel):
    enabled: bool = Field(
        default=False, description="Install metrics-server (HPAs need it); GKE and AKS ship one."
    )


class KubePrometheusStackSettings(SettingsModel):
    enabled: bool = Field(
        default=False,
        description="Install the Prometheus Operator, Prometheus, Alertmanager and "
        "kube-state-metrics (kube-prometheus-stack) in `monitoring`; `monitoring.enabled` "
        "needs it or an operator the cluster already runs.",
    )
    retention_days: int = Field(
        default=15, ge=1, le=365, description="Days Prometheus keeps samples."
    )


class JaegerSettings(SettingsModel):
    enabled: bool = Field(
        default=False,
        description="Install Jaeger (all-in-one, in-memory) in `tracing`; `tracing.enabled` "
        "then sends the service's and Dapr's spans to it unless `tracing.endpoint` names "
        "another collector.",
    )


class AddonsSettings(SettingsModel):
    """The ``addons`` block of a stack."""

    ingress_nginx: IngressNginxSettings = IngressNginxSettings()
    cert_manager: CertManagerSettings = CertManagerSettings()
    dapr: DaprSettings = DaprSettings()
    metrics_server: MetricsServerSettings = MetricsServerSettings()
    kube_prometheus_stack: KubePrometheusStackSettings = KubePrometheusStackSettings()
    jaeger: JaegerSettings = JaegerSettings()


def check_for_cloud(
    addons: AddonsSettings, cloud: CloudName, ingress_class: str = "nginx"
) -> AddonsSettings:
    """Fail, naming the setting, when an add-on choice does not fit the cluster or the app.

    ``ingress_class`` is the app Ingress's class (``ingress.className``): cert-manager answers
    HTTP-01 challenges through it, and ingress-nginx serves only ``nginx``.
    """
    traits = CLOUDS[cloud]
    if ingress_class == "gce" and "gce" not in traits.ingress_classes:
        raise ValueError(
            f"ingress.className='gce' needs cluster.provider='gke' (got {cloud!r}); "
            f"available here: {', '.join(traits.ingress_classes)}"
        )
    if addons.ingress_nginx.enabled and ingress_class != CLASS_NAME:
        raise ValueError(
            f"addons.ingressNginx.enabled=true serves ingress class {CLASS_NAME!r}, but "
            f"ingress.className={ingress_class!r}: turn one of them off or align them"
        )
    if addons.metrics_server.enabled and traits.ships_metrics_server:
        raise ValueError(
            f"addons.metricsServer.enabled=true on cluster.provider={cloud!r}, which runs its "
            "own metrics-server: a second one would fight it for the metrics API"
        )
    return addons
