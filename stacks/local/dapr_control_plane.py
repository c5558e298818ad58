"""Dapr's control plane on the local cluster: Sentry, the operator and the sidecar injector, run
as processes from ``scripts/dapr-control-plane-toolchain``, so Dapr's own injector mutates the
stacks' pods and Pod Security admission judges the result.

What a chart install provides, done here before and between the processes' starts:

- the ``dapr-system`` namespace, the ServiceAccounts, and the empty ``dapr-trust-bundle`` Secret
  and ConfigMap into which Sentry, in Kubernetes mode, writes the root and issuer it generates;
- the ``daprsystem`` Configuration, with the add-on's mTLS settings (``infra.addons.dapr``);
- the scheduler's StatefulSet with no replicas (see ``_no_scheduler``);
- a stand-in Pod per client of Sentry (operator, injector), as their Deployments would run: Sentry
  signs a control-plane identity only for a service-account token bound to a Pod that carries
  ``dapr.io/control-plane`` and that account, so each process gets such a token (a TokenRequest,
  in ``DAPR_SENTRY_TOKEN_FILE``) and Sentry's checks run unchanged. KWOK "runs" those Pods;
- the ``dapr-sidecar-injector`` MutatingWebhookConfiguration, as the chart writes it but with a
  URL, ``https://dapr-sidecar-injector.dapr-system.svc:<port>/mutate``: the name on the
  certificate Sentry issues the injector, which the API server reaches through
  ``stacks.local.egress_proxy``. Its CA bundle is Sentry's root, which the injector itself
  patches in again on start, as in a cluster.

What differs from the chart: the processes use the administrator's kubeconfig, not the chart's
RBAC; placement and the scheduler do not run, so injected sidecars get no actor, reminder or
scheduler addresses (``ACTORS_ENABLED=false``, a scheduler of zero replicas); Sentry's and the
operator's servers listen on 127.0.0.1, but the injector's and the three health servers listen on
every interface, as Dapr 1.16 binds them (see ``_listen``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from infra.addons.dapr import ALLOWED_CLOCK_SKEW, CHART, NAMESPACE, WORKLOAD_CERT_TTL
from stacks.local.errors import LocalClusterError
from stacks.local.pki import ADMIN, Pki
from stacks.local.processes import Command
from stacks.local.settings import ClusterSettings
from stacks.local.toolchain import Toolchain

PROCESSES = ("sentry", "operator", "injector")
"""Start order: the other two ask Sentry for their certificates as they start."""
SENTRY_CLIENTS = ("operator", "injector")
TRUST_DOMAIN = "cluster.local"
"""The control plane's trust domain (the chart's ``global.mtls.controlPlaneTrustDomain``)."""
SENTRY_AUDIENCE = f"spiffe://{TRUST_DOMAIN}/ns/{NAMESPACE}/dapr-sentry"
"""The audience of the tokens Sentry accepts: its own SPIFFE id, as the chart projects them."""
TOKEN_LIFETIME = "8760h"  # noqa: S105 - a duration, not a secret
"""The processes send the token again at every certificate renewal (daily), and each start
requests new ones; a year outlasts any run of a local cluster."""
TRUST_BUNDLE = "dapr-trust-bundle"
ROOT_CERT_KEY = "ca.crt"
CONFIGURATION = "daprsystem"
WEBHOOK = "dapr-sidecar-injector"
"""The name the injector patches its CA bundle into: it exits when that object is missing."""
INJECTOR_HOST = f"{WEBHOOK}.{NAMESPACE}.svc"
"""The only name on the serving certificate Sentry issues the injector."""
CLUSTER_DOMAIN = "cluster.local"

Kubectl = Callable[..., str]
"""``kubectl(*args, stdin=None)``: kubectl on this cluster, its output, or LocalClusterError."""


def account(role: str) -> str:
    return f"dapr-{role}"


def token_file(settings: ClusterSettings, role: str) -> Path:
    return settings.dapr_dir / f"{role}.token"


def trust_anchors_file(settings: ClusterSettings) -> Path:
    return settings.dapr_dir / ROOT_CERT_KEY


def injector_route(settings: ClusterSettings) -> str:
    """The egress proxy's route to the injector (``stacks.local.egress_proxy``)."""
    port = settings.dapr_port("injector")
    return f"{INJECTOR_HOST}:{port}=127.0.0.1:{port}"


def registry(tools: Toolchain) -> str:
    """The chart's image registry (``global.registry`` of the module's chart): the injected
    sidecar's image is named as a chart install of the pinned release names it."""
    values = yaml.safe_load((tools.dapr_crds.resolve().parent / "values.yaml").read_text())
    found = (values.get("global") or {}).get("registry")
    if not isinstance(found, str) or not found:
        raise LocalClusterError(f"the Dapr chart in {tools.dapr_crds} names no global.registry")
    return found


def _metadata(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": {"app": name}}
    return {**found, "annotations": annotations} if annotations else found


def _stand_in(role: str, image_registry: str) -> dict[str, Any]:
    """The Pod Sentry checks a client's token against (see the module's docstring)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(account(role), annotations={"dapr.io/control-plane": role}),
        "spec": {
            "serviceAccountName": account(role),
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": role,
                    "image": f"{image_registry}/{role}:{CHART.version}",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                    },
                }
            ],
        },
    }


def _no_scheduler(image_registry: str) -> dict[str, Any]:
    """The scheduler's StatefulSet at zero replicas: the injector waits for this object before it
    serves, and reads from its size how many scheduler addresses to give a sidecar (none)."""
    name = "dapr-scheduler-server"
    image = f"{image_registry}/scheduler:{CHART.version}"
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(name),
        "spec": {
            "replicas": 0,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "scheduler", "image": image}]},
            },
        },
    }


def objects(settings: ClusterSettings, image_registry: str) -> list[dict[str, Any]]:
    """What exists before Sentry starts."""
    sentry = f"127.0.0.1:{settings.dapr_port('sentry')}"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        *(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(account(role))}
            for role in PROCESSES
        ),
        {"apiVersion": "v1", "kind": "Secret", "metadata": _metadata(TRUST_BUNDLE)},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(TRUST_BUNDLE)},
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Configuration",
            "metadata": _metadata(CONFIGURATION),
            "spec": {
                "mtls": {
                    "enabled": True,
                    "workloadCertTTL": WORKLOAD_CERT_TTL,
                    "allowedClockSkew": ALLOWED_CLOCK_SKEW,
                    "controlPlaneTrustDomain": TRUST_DOMAIN,
                    "sentryAddress": sentry,
                }
            },
        },
        *(_stand_in(role, image_registry) for role in SENTRY_CLIENTS),
        _no_scheduler(image_registry),
    ]


def bootstrap(settings: ClusterSettings, kubectl: Kubectl, image_registry: str) -> None:
    """The objects, Sentry's credentials folder, and a bound token per client of Sentry."""
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects(settings, image_registry)))
    (settings.dapr_dir / "credentials").mkdir(parents=True, exist_ok=True)
    settings.dapr_dir.chmod(0o700)
    for role in SENTRY_CLIENTS:
        token = kubectl(
            "create",
            "token",
            account(role),
            "-n",
            NAMESPACE,
            f"--audience={SENTRY_AUDIENCE}",
            "--bound-object-kind=Pod",
            f"--bound-object-name={account(role)}",
            f"--duration={TOKEN_LIFETIME}",
        ).strip()
        path = token_file(settings, role)
        path.write_text(token)
        path.chmod(0o600)


def read_trust_anchors(settings: ClusterSettings, kubectl: Kubectl) -> bytes | None:
    """Sentry's root certificate once it has written it, saved for the operator and the
    injector (their ``--trust-anchors-file``); None before."""
    found = json.loads(kubectl("get", "configmap", TRUST_BUNDLE, "-n", NAMESPACE, "-o", "json"))
    anchors = (found.get("data") or {}).get(ROOT_CERT_KEY, "")
    if not anchors:
        return None
    trust_anchors_file(settings).write_text(anchors)
    return str(anchors).encode()


def webhook(settings: ClusterSettings, anchors: bytes) -> dict[str, Any]:
    """The chart's MutatingWebhookConfiguration, reached by URL (see the module's docstring)."""
    url = f"https://{INJECTOR_HOST}:{settings.dapr_port('injector')}/mutate"
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK, "labels": {"app": WEBHOOK}},
        "webhooks": [
            {
                "name": "sidecar-injector.dapr.io",
                "reinvocationPolicy": "IfNeeded",
                "clientConfig": {"url": url, "caBundle": base64.b64encode(anchors).decode()},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "operations": ["CREATE"],
                    }
                ],
                # The chart's default: a pod is admitted without a sidecar while the injector
                # is down. The deploy tests check the sidecar is there.
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1", "v1beta1"],
            }
        ],
    }


def register_injector(settings: ClusterSettings, kubectl: Kubectl, anchors: bytes) -> None:
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(webhook(settings, anchors)))


def _common(settings: ClusterSettings, role: str, pki: Pki) -> tuple[tuple[str, str], ...]:
    """The environment every one of them reads: its namespace and kubeconfig, and for Sentry's
    clients the token that proves who they are."""
    env = {
        "NAMESPACE": NAMESPACE,
        "KUBECONFIG": str(pki.kubeconfig(ADMIN)),
        # In Kubernetes mode they refuse any uid but their image's (65532); here they run as
        # whoever runs the cluster, which is what the check is there to catch in a pod.
        "DAPR_UNSAFE_SKIP_CONTAINER_UID_GID_CHECK": "true",
    }
    if role in SENTRY_CLIENTS:
        env["DAPR_SENTRY_TOKEN_FILE"] = str(token_file(settings, role))
    return tuple(env.items())


def _listen(settings: ClusterSettings, role: str) -> tuple[str, ...]:
    """Ports, and addresses where Dapr 1.16 honours them: the injector's server and every health
    server bind all interfaces (their ``--*listen-address`` flags are parsed, then unused)."""
    address = () if role == "injector" else ("--listen-address=127.0.0.1",)
    return (
        *address,
        f"--port={settings.dapr_port(role)}",
        f"--healthz-port={settings.dapr_port(f'{role}-healthz')}",
        "--enable-metrics=false",
        "--log-level=info",
    )


def sentry(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    return Command(
        "sentry",
        (
            tools.dapr_binary("sentry"),
            "--mode=kubernetes",
            f"--config={CONFIGURATION}",
            f"--trust-domain={TRUST_DOMAIN}",
            # Unused in Kubernetes mode (the bundle is the Secret), but watched: it must exist.
            f"--issuer-credentials={settings.dapr_dir / 'credentials'}",
            f"--kubeconfig={pki.kubeconfig(ADMIN)}",
            *_listen(settings, "sentry"),
        ),
        _common(settings, "sentry", pki),
    )


def operator(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    return Command(
        "operator",
        (
            tools.dapr_binary("operator"),
            f"--config={CONFIGURATION}",
            f"--trust-anchors-file={trust_anchors_file(settings)}",
            "--disable-leader-election",
            "--webhook-server-listen-address=127.0.0.1",
            f"--webhook-server-port={settings.dapr_port('operator-webhook')}",
            *_listen(settings, "operator"),
        ),
        # The CRDs' conversion webhook stays off (see stacks.local.dapr_crds).
        (*_common(settings, "operator", pki), ("ENABLE_WEBHOOKS", "false")),
    )


def injector(settings: ClusterSettings, tools: Toolchain, pki: Pki) -> Command:
    image = f"{registry(tools)}/daprd:{CHART.version}"
    env = {
        # The chart's defaults, with the add-on's one change (sidecarDropALLCapabilities).
        "SIDECAR_IMAGE": image,
        "SIDECAR_IMAGE_PULL_POLICY": "IfNotPresent",
        "SIDECAR_RUN_AS_NON_ROOT": "true",
        "SIDECAR_READ_ONLY_ROOT_FILESYSTEM": "true",
        "SIDECAR_DROP_ALL_CAPABILITIES": "true",
        "KUBE_CLUSTER_DOMAIN": CLUSTER_DOMAIN,
        "ACTORS_ENABLED": "false",
        "DAPR_TRUST_ANCHORS_FILE": str(trust_anchors_file(settings)),
        "DAPR_CONTROL_PLANE_TRUST_DOMAIN": TRUST_DOMAIN,
        "DAPR_SENTRY_ADDRESS": f"127.0.0.1:{settings.dapr_port('sentry')}",
    }
    return Command(
        "injector",
        (
            tools.dapr_binary("injector"),
            f"--kubeconfig={pki.kubeconfig(ADMIN)}",
            *_listen(settings, "injector"),
        ),
        (*_common(settings, "injector", pki), *env.items()),
    )
