"""The public entry: one nginx-class Ingress, ``/api`` to the backend and ``/`` to the frontend.

Everything is set with annotations that current ingress-nginx accepts with snippets disabled:

- rate limit per client address (``limit-rpm``), counted by each controller replica on its own
  (nginx ``limit_req`` zones live in one replica's memory; the API's login limit, in Redis, is
  shared);
- CORS (``enable-cors`` and ``cors-*``), for the origins the stack lists (default: the site);
- security headers from a ConfigMap named by ``custom-headers``; the controller must list the
  names in ``global-allowed-response-headers`` (``infra.http_headers.ALLOWED_RESPONSE_HEADERS``);
- TLS from cert-manager (``cert-manager.io/cluster-issuer`` or ``/issuer``), with HTTPS forced.

Only ``/api`` reaches the API: its health, metrics and Dapr event routes stay inside the cluster.
"""

from __future__ import annotations

import re
from typing import Literal

import pulumi
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.networking.v1 as networking
from pydantic import Field, field_validator

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.http_headers import SECURITY_HEADERS
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

NGINX = "nginx.ingress.kubernetes.io"
SKIP_AWAIT = "pulumi.com/skipAwait"
"""The provider's annotation that turns off its readiness wait for one object."""
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")


class IngressSettings(SettingsModel):
    """How the platform is reached from outside the cluster."""

    enabled: bool = Field(default=True, description="Create the Ingress.")
    host: str = Field(default="todo.localhost", description="Public host name of the site.")
    class_name: str = Field(
        default="nginx", description="IngressClass of the ingress-nginx controller."
    )
    tls: bool = Field(
        default=True,
        description="Serve HTTPS with a cert-manager certificate and redirect HTTP to it. "
        "Off only where no issuer exists (dev).",
    )
    issuer: str = Field(default="letsencrypt-prod", description="cert-manager issuer name.")
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = Field(
        default="ClusterIssuer", description="Whether `issuer` is cluster-wide or namespaced."
    )
    rate_limit_rpm: int = Field(
        default=100,
        ge=1,
        le=100000,
        description="Requests per minute allowed per client address, counted by each "
        "ingress-nginx replica on its own: a client spread over N replicas gets up to N times "
        "this.",
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser; empty means only the "
        "site's own origin.",
    )
    security_headers: bool = Field(
        default=True,
        description="Add the security headers at the Ingress. Needs the controller's "
        "`global-allowed-response-headers`; the frontend sends them for `/` either way.",
    )
    max_body_size: str = Field(
        default="1m", pattern=r"^\d+[km]?$", description="Largest request body accepted."
    )
    await_load_balancer: bool | None = Field(
        default=None,
        description="Make `pulumi up` wait until the ingress controller publishes an address "
        "(`status.loadBalancer`). Unset: wait only when this stack installs ingress-nginx "
        "(`addons.ingressNginx.enabled`). Where no controller will ever publish one (`todo-infra "
        "--local` sets false) the wait would end only at the provider's 10-minute timeout.",
    )

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError(f"host={value!r} is not a lower-case DNS host name")
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*" or not _ORIGIN.match(origin):
                raise ValueError(
                    f"cors_allowed_origins entry {origin!r} must be a scheme://host[:port] "
                    "origin; '*' would let any site call the API with a user's token"
                )
        return value

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"


class IngressArgs(ComponentArgs):
    """The Services the Ingress routes to."""

    settings: IngressSettings = Field(
        default_factory=IngressSettings, description="Stack settings."
    )
    backend_service: str = Field(description="Service of the API (port named `http`).")
    frontend_service: str = Field(description="Service of the frontend (port named `http`).")
    await_address: bool = Field(
        description="Whether the engine waits for the controller to publish an address."
    )


def ingress_annotations(
    settings: IngressSettings, *, headers_config_map: str | None
) -> dict[str, str]:
    """The ingress-nginx and cert-manager annotations; none of them is a snippet."""
    origins = settings.cors_allowed_origins or [settings.origin]
    annotations = {
        f"{NGINX}/limit-rpm": str(settings.rate_limit_rpm),
        f"{NGINX}/proxy-body-size": settings.max_body_size,
        f"{NGINX}/enable-cors": "true",
        f"{NGINX}/cors-allow-origin": ", ".join(origins),
        f"{NGINX}/cors-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
        f"{NGINX}/cors-allow-headers": "Authorization, Content-Type, X-Request-ID",
        # Bearer tokens, not cookies: browsers need not send credentials cross-origin.
        f"{NGINX}/cors-allow-credentials": "false",
        f"{NGINX}/cors-max-age": "600",
    }
    if headers_config_map is not None:
        annotations[f"{NGINX}/custom-headers"] = headers_config_map
    if settings.tls:
        issuer_key = "cluster-issuer" if settings.issuer_kind == "ClusterIssuer" else "issuer"
        annotations[f"cert-manager.io/{issuer_key}"] = settings.issuer
        annotations[f"{NGINX}/force-ssl-redirect"] = "true"
    else:
        annotations[f"{NGINX}/ssl-redirect"] = "false"
    return annotations


def _route(path: str, service: str) -> networking.HTTPIngressPathArgs:
    return networking.HTTPIngressPathArgs(
        path=path,
        path_type="Prefix",
        backend=networking.IngressBackendArgs(
            service=networking.IngressServiceBackendArgs(
                name=service, port=networking.ServiceBackendPortArgs(name="http")
            )
        ),
    )


class Ingress(pulumi.ComponentResource):
    """The Ingress and the ConfigMap of security headers it names."""

    url: str

    def __init__(
        self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Ingress", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        labels = unversioned_labels("ingress", args.instance, "ingress")
        headers_ref: str | None = None
        if settings.security_headers:
            headers_name = child_name(args.instance, "security-headers")
            core.ConfigMap(
                f"{name}-security-headers",
                metadata=object_meta(headers_name, namespace=args.namespace, labels=labels),
                data=dict(SECURITY_HEADERS),
                opts=child,
            )
            headers_ref = f"{args.namespace}/{headers_name}"
        annotations = ingress_annotations(settings, headers_config_map=headers_ref)
        if not args.await_address:
            # No controller will ever fill status.loadBalancer: waiting would only time out.
            annotations[SKIP_AWAIT] = "true"
        tls = (
            [
                networking.IngressTLSArgs(
                    hosts=[settings.host], secret_name=child_name(args.instance, "tls")
                )
            ]
            if settings.tls
            else None
        )
        networking.Ingress(
            f"{name}-ingress",
            metadata=object_meta(
                child_name(args.instance, "ingress"),
                namespace=args.namespace,
                labels=labels,
                annotations=annotations,
            ),
            spec=networking.IngressSpecArgs(
                ingress_class_name=settings.class_name,
                tls=tls,
                rules=[
                    networking.IngressRuleArgs(
                        host=settings.host,
                        http=networking.HTTPIngressRuleValueArgs(
                            paths=[
                                _route("/api", args.backend_service),
                                _route("/", args.frontend_service),
                            ]
                        ),
                    )
                ],
            ),
            opts=child,
        )
        self.url = settings.origin
        self.register_outputs({"url": self.url})
