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


class MetricsServerSettings(SettingsModel):
    enabled: bool = Field(
        default=False, description="Install metrics-server (HPAs need it); GKE and AKS ship one."
    )


class AddonsSettings(SettingsModel):
    """The ``addons`` block of a stack."""

    ingress_class: Literal["nginx", "gce"] = Field(
        default="nginx",
        description="The app's Ingress class; 'gce' (GKE only) replaces ingress-nginx.",
    )
    ingress_nginx: IngressNginxSettings = IngressNginxSettings()
    cert_manager: CertManagerSettings = CertManagerSettings()
    dapr: DaprSettings = DaprSettings()
    metrics_server: MetricsServerSettings = MetricsServerSettings()

    @model_validator(mode="after")
    def _ingress(self) -> AddonsSettings:
        if self.ingress_class == "gce" and self.ingress_nginx.enabled:
            raise ValueError(
                "addons.ingressClass='gce' replaces ingress-nginx: set "
                "addons.ingressNginx.enabled=false"
            )
        return self


def check_for_cloud(addons: AddonsSettings, cloud: CloudName) -> AddonsSettings:
    """Fail, naming the setting, when an add-on choice does not fit the cluster's cloud."""
    traits = CLOUDS[cloud]
    if addons.ingress_class not in traits.ingress_classes:
        raise ValueError(
            f"addons.ingressClass={addons.ingress_class!r} is not available on "
            f"cluster.provider={cloud!r}; choose one of {', '.join(traits.ingress_classes)}"
        )
    if addons.metrics_server.enabled and traits.ships_metrics_server:
        raise ValueError(
            f"addons.metricsServer.enabled=true on cluster.provider={cloud!r}, which runs its "
            "own metrics-server: a second one would fight it for the metrics API"
        )
    return addons
