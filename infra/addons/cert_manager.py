"""cert-manager and the Let's Encrypt ClusterIssuers the app's Ingress names.

Installed as a ``helm.v3.Release`` because its post-install hook (``startupapicheck``) waits
until the webhook answers; only then can a ClusterIssuer be created. Rendered by
``helm.v4.Chart`` the hook would be an unordered Job and the issuers would race the webhook.
The CRDs come from the chart's templates (``crds.enabled``), so upgrades update them, and
``crds.keep`` leaves them (and every certificate) in place if the release is removed.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes.meta.v1 as meta
from pydantic import BaseModel, ConfigDict, Field

from infra.addons.charts import PinnedChart, helm_release
from infra.addons.settings import CertManagerSettings, IssuerName
from infra.component import child_options

CHART = PinnedChart(name="cert-manager", version="v1.19.1", repo="https://charts.jetstack.io")
NAMESPACE = "cert-manager"
ACME_SERVERS: dict[IssuerName, str] = {
    # Staging has generous rate limits and untrusted certificates: for trying a setup out.
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
}


class CertManagerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: CertManagerSettings = Field(description="The stack's addons.cert_manager block.")
    ingress_class: str = Field(description="The class that serves HTTP-01 challenges.")


def issuer_spec(server: str, email: str, ingress_class: str) -> dict[str, object]:
    """An ACME issuer answering HTTP-01 challenges through the app's Ingress class."""
    return {
        "acme": {
            "server": server,
            "email": email,
            "privateKeySecretRef": {"name": f"{server.split('//')[1].split('.')[0]}-account"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": ingress_class}}}],
        }
    }


class CertManager(pulumi.ComponentResource):
    """cert-manager's release and one ClusterIssuer per Let's Encrypt environment.

    ``ready`` lists what the app's certificate objects must wait for: the issuers, which in
    turn wait for the release (CRDs installed and webhook answering).
    """

    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:CertManager", name, None, opts)
        email = args.settings.acme_email
        if email is None:
            raise ValueError("cert_manager.acme_email is required to create the ClusterIssuers")
        release = helm_release(
            f"{name}-release",
            CHART,
            namespace=NAMESPACE,
            values={
                "crds": {"enabled": True, "keep": True},
                "startupapicheck": {"enabled": True},
                "prometheus": {"enabled": True},
                "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}},
            },
            opts=child_options(self, opts),
        )
        issuers: list[pulumi.Resource] = [
            k8s.apiextensions.CustomResource(
                f"{name}-{issuer}",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=meta.ObjectMetaArgs(name=issuer),
                spec=issuer_spec(server, email, args.ingress_class),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
            )
            for issuer, server in ACME_SERVERS.items()
        ]
        self.ready = [release, *issuers]
        self.register_outputs({"issuers": list(ACME_SERVERS)})
