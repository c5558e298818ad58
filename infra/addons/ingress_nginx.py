"""ingress-nginx: the Ingress controller behind the app's ``nginx`` Ingress class.

Installed as a ``helm.v3.Release`` because its admission webhook is set up by Helm hooks: a
pre-install job makes the webhook's certificate and a post-install job patches it into the
ValidatingWebhookConfiguration. Rendered by ``helm.v4.Chart`` those jobs run unordered and the
webhook rejects every Ingress for want of a CA (pulumi-kubernetes issue 3284).
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from infra.addons.charts import PinnedChart, helm_release
from infra.addons.cloud import CLOUDS, CloudName
from infra.addons.settings import CLASS_NAME, IngressNginxSettings
from infra.component import child_options
from infra.http_headers import ALLOWED_RESPONSE_HEADERS

CHART = PinnedChart(
    name="ingress-nginx", version="4.13.3", repo="https://kubernetes.github.io/ingress-nginx"
)
NAMESPACE = "ingress-nginx"


class IngressNginxArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: IngressNginxSettings = Field(description="The stack's addons.ingress_nginx block.")
    cloud: CloudName = Field(description="Selects the load balancer annotations (cloud.py).")


def values(args: IngressNginxArgs) -> dict[str, object]:
    """Chart values: the cloud's Service annotations, HA replicas, no snippet annotations."""
    return {
        "controller": {
            "replicaCount": args.settings.replicas,
            "minAvailable": 1,
            "ingressClassResource": {"name": CLASS_NAME, "default": False},
            # Snippets let any Ingress author inject nginx config (CVE-2021-25742); keep off.
            "allowSnippetAnnotations": False,
            "config": {
                "use-forwarded-headers": "false",
                "server-tokens": "false",
                # The app's Ingress adds these via custom-headers; unlisted ones answer 503.
                "global-allowed-response-headers": ALLOWED_RESPONSE_HEADERS,
            },
            "service": {
                "type": "LoadBalancer",
                "annotations": CLOUDS[args.cloud].service_annotations(args.settings.load_balancer),
                # Local keeps the client's address, which the app's rate limit keys on.
                "externalTrafficPolicy": "Local",
            },
            "metrics": {"enabled": True},
            "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "10254"},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/name": "ingress-nginx",
                            "app.kubernetes.io/component": "controller",
                        }
                    },
                }
            ],
            "admissionWebhooks": {"enabled": True},
        }
    }


class IngressNginx(pulumi.ComponentResource):
    """The controller's Helm release; ``class_name`` is the Ingress class it serves."""

    class_name: str

    def __init__(
        self, name: str, args: IngressNginxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:IngressNginx", name, None, opts)
        self.release = helm_release(
            f"{name}-release",
            CHART,
            namespace=NAMESPACE,
            values=values(args),
            opts=child_options(self, opts),
        )
        self.class_name = CLASS_NAME
        self.register_outputs({"status": self.release.status})
