"""Settings the stack needs from controllers it does not install: ingress-nginx and Dapr.

Both failures show only on a live cluster, after a successful ``up``:

- the Ingress names its security headers through ingress-nginx's ``custom-headers``
  annotation, and a controller whose ``global-allowed-response-headers`` does not list every
  one of them answers 503 on every path of the Ingress;
- the app namespace enforces Pod Security ``restricted``, which rejects the app's pods unless
  Dapr's injector adds ``daprd`` with every capability dropped.

When the stack installs the add-on it configures it (``infra.addons``); otherwise the cluster is
asked. A cluster running no such controller at all has nothing to configure, and one the stack
creates has nothing yet: neither is asked about.
"""

from __future__ import annotations

from infra.cluster import NoCluster
from infra.http_headers import SECURITY_HEADERS
from infra.namespace import POD_SECURITY_LEVEL
from stacks.cluster_checks import (
    ClusterLookup,
    Manifest,
    Prerequisite,
    Status,
    asked,
    not_needed,
)
from stacks.config import PROJECT, StackConfig

INGRESS_NGINX_LABELS = "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller"
"""How ingress-nginx's chart and static manifests label the controller and its ConfigMaps."""
CONTROLLER_SUFFIX = "-controller"
"""The controller's own ConfigMap is ``<release fullname>-controller`` (the chart's
``controller.fullname``, which its ``--configmap=$(POD_NAMESPACE)/...`` flag names); the other
ConfigMaps with its labels (``-custom-add-headers``, ``-tcp``, ...) hold no settings."""
ALLOWED_HEADERS_KEY = "global-allowed-response-headers"

DAPR_INJECTOR_LABELS = "app=dapr-sidecar-injector"
"""The label Dapr's chart gives the injector's Deployment (and selects its pods by)."""
DROP_ALL_ENV = "SIDECAR_DROP_ALL_CAPABILITIES"
"""The injector's environment variable set from the chart value below."""
DROP_ALL_CHART_VALUE = "dapr_sidecar_injector.sidecarDropALLCapabilities"
TRUTHY = frozenset({"y", "yes", "true", "t", "on", "1"})
"""What the injector reads as true (Dapr's ``utils.IsTruthy``)."""

HEADERS_CHECK = "ingress-nginx allows the security headers"
INJECTOR_CHECK = "Dapr's injector drops all capabilities"


def _name(manifest: Manifest) -> str:
    return f"{manifest['metadata'].get('namespace', '')}/{manifest['metadata']['name']}"


def _unasked(name: str, config: StackConfig, why_not: str, later: str) -> Prerequisite | None:
    """The answer when the cluster need not be asked: the feature is off or the stack installs
    the add-on configured (``why_not``, :func:`not_needed`), or it creates the cluster, where a
    controller installed ``later`` needs the setting. ``None``: ask."""
    if why_not:
        return Prerequisite(name, Status.NOT_NEEDED, why_not)
    if not isinstance(config.cluster, NoCluster):
        return Prerequisite(
            name, Status.SKIPPED, f"not asked: the stack creates the cluster; {later}"
        )
    return None


def _allowed_headers(config_map: Manifest) -> list[str]:
    listed = (config_map.get("data") or {}).get(ALLOWED_HEADERS_KEY, "")
    return [header.strip() for header in listed.split(",") if header.strip()]


def ingress_headers(config: StackConfig, cluster: ClusterLookup) -> Prerequisite:
    """Every ingress-nginx controller's ConfigMap lists each of the Ingress's headers."""
    unasked = _unasked(
        HEADERS_CHECK,
        config,
        not_needed(
            {
                "ingress.enabled": config.ingress.enabled,
                "ingress.securityHeaders": config.ingress.security_headers,
            },
            "addons.ingressNginx.enabled",
            config.addons.ingress_nginx.enabled,
            "ingress-nginx with the setting",
        ),
        f"an ingress-nginx you install there needs {ALLOWED_HEADERS_KEY} listing "
        f"{', '.join(SECURITY_HEADERS)}",
    )
    if unasked is not None:
        return unasked

    def check() -> Prerequisite:
        maps = [
            found
            for found in cluster.objects("configmaps", INGRESS_NGINX_LABELS)
            if found["metadata"]["name"].endswith(CONTROLLER_SUFFIX)
        ]
        if not maps:
            return Prerequisite(
                HEADERS_CHECK, Status.OK, "no ingress-nginx controller found: nothing to configure"
            )
        lacking = [
            (found, [h for h in SECURITY_HEADERS if h not in _allowed_headers(found)])
            for found in maps
        ]
        lacking = [(found, headers) for found, headers in lacking if headers]
        if not lacking:
            names = ", ".join(_name(found) for found in maps)
            return Prerequisite(HEADERS_CHECK, Status.OK, f"{ALLOWED_HEADERS_KEY} in {names}")
        return Prerequisite(
            HEADERS_CHECK,
            Status.MISSING,
            "; ".join(
                f"ConfigMap {_name(found)} lacks {', '.join(headers)} in {ALLOWED_HEADERS_KEY} "
                "(every path of the Ingress would answer 503)"
                for found, headers in lacking
            ),
            "; ".join(
                f"set {ALLOWED_HEADERS_KEY}: "
                f"{','.join([*_allowed_headers(found), *headers])!r} in ConfigMap {_name(found)}"
                for found, headers in lacking
            )
            + f" (Helm: controller.config.{ALLOWED_HEADERS_KEY}), "
            f"or set {PROJECT}:ingress.securityHeaders=false",
        )

    return asked(HEADERS_CHECK, check)


def _drops_all(deployment: Manifest) -> bool:
    containers = deployment["spec"]["template"]["spec"].get("containers", [])
    return any(
        env.get("name") == DROP_ALL_ENV and str(env.get("value", "")).strip().lower() in TRUTHY
        for container in containers
        for env in container.get("env", [])
    )


def dapr_injector(config: StackConfig, cluster: ClusterLookup) -> Prerequisite:
    """Every Dapr sidecar injector adds ``daprd`` with all capabilities dropped."""
    unasked = _unasked(
        INJECTOR_CHECK,
        config,
        not_needed(
            {"dapr.enabled": config.dapr.enabled},
            "addons.dapr.enabled",
            config.addons.dapr.enabled,
            f"Dapr with {DROP_ALL_CHART_VALUE}=true",
        ),
        f"a Dapr you install there needs {DROP_ALL_CHART_VALUE}=true",
    )
    if unasked is not None:
        return unasked

    def check() -> Prerequisite:
        injectors = cluster.objects("deployments", DAPR_INJECTOR_LABELS)
        if not injectors:
            return Prerequisite(
                INJECTOR_CHECK, Status.OK, "no Dapr sidecar injector found: nothing to configure"
            )
        lacking = [found for found in injectors if not _drops_all(found)]
        if not lacking:
            names = ", ".join(_name(found) for found in injectors)
            return Prerequisite(INJECTOR_CHECK, Status.OK, f"{DROP_ALL_ENV}=true in {names}")
        namespaces = sorted({found["metadata"].get("namespace", "") for found in lacking})
        return Prerequisite(
            INJECTOR_CHECK,
            Status.MISSING,
            f"Deployment {', '.join(_name(found) for found in lacking)} does not set "
            f"{DROP_ALL_ENV}=true (Pod Security {POD_SECURITY_LEVEL!r} in namespace "
            f"{config.namespace} would reject the app's pods)",
            f"set the Dapr chart value {DROP_ALL_CHART_VALUE}=true on the release in namespace "
            f"{', '.join(namespaces)} (`helm upgrade --reuse-values --set ...`), "
            f"or set {PROJECT}:dapr.enabled=false",
        )

    return asked(INJECTOR_CHECK, check)
