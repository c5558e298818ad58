"""The pod annotations that make the Dapr injector add a hardened, sized ``daprd`` sidecar.

The sidecar is not in our pod spec, so the hardening every container gets must be asked of the
injector: resources through ``dapr.io/sidecar-*`` annotations and the seccomp profile through
``dapr.io/sidecar-seccomp-profile-type``. The injector itself already runs ``daprd`` non-root
with a read-only root and no privilege escalation; dropping ALL capabilities is an injector
setting (``dapr_sidecar_injector.sidecarDropALLCapabilities``) of the control-plane install.

The pods run without a Kubernetes API token (:mod:`infra.workload`), and the sidecar needs none:

- it authenticates to Sentry with a token the injector projects into ``daprd`` alone (volume
  ``dapr-identity-token``, audience Sentry's SPIFFE id), whatever the pod's automount says;
- the Components' ``secretKeyRef`` into the ``kubernetes`` store are resolved by Dapr's operator,
  which sends the values with the Component, so ``daprd`` never reads a Secret itself.

What does need the API token is Dapr's built-in ``kubernetes`` secret store, which ``daprd``
loads in Kubernetes mode unless told not to; without a token its init fails and the sidecar
with it. Nothing reads secrets through it, so it is turned off
(``dapr.io/disable-builtin-k8s-secret-store``) rather than giving every sidecar an API token.
"""

from __future__ import annotations

from infra.dapr.settings import DaprSettings
from infra.sizes import resolve

METRICS_PORT = 9090
"""Where ``daprd`` serves Prometheus metrics (Dapr's default, stated so policies can name it)."""
API_HTTP_PORT = 3500
API_GRPC_PORT = 50001
INTERNAL_GRPC_PORT = 50002
"""Sidecar-to-sidecar service invocation."""
SIDECAR_PORTS = (API_HTTP_PORT, API_GRPC_PORT, INTERNAL_GRPC_PORT)


def sidecar_annotations(
    settings: DaprSettings,
    *,
    app_id: str,
    app_port: int,
    config_name: str,
    app_token_secret: str | None = None,
) -> dict[str, str]:
    """Annotations for a pod whose app ``app_id`` listens on ``app_port``; empty when off.

    ``app_token_secret`` names a Secret whose key ``token`` the sidecar sends to the app as
    ``dapr-api-token`` on every call, so the app can tell the sidecar from other callers.
    """
    if not settings.enabled:
        return {}
    size = resolve(settings.sidecar_size)
    token = {"dapr.io/app-token-secret": app_token_secret} if app_token_secret else {}
    return {
        "dapr.io/enabled": "true",
        "dapr.io/app-id": app_id,
        "dapr.io/app-port": str(app_port),
        "dapr.io/app-protocol": "http",
        "dapr.io/config": config_name,
        "dapr.io/log-level": settings.log_level,
        "dapr.io/log-as-json": "true",
        "dapr.io/enable-metrics": "true",
        "dapr.io/metrics-port": str(METRICS_PORT),
        "dapr.io/sidecar-cpu-request": f"{size.cpu_request_m}m",
        "dapr.io/sidecar-memory-request": f"{size.memory_request_mi}Mi",
        "dapr.io/sidecar-cpu-limit": f"{size.cpu_limit_m}m",
        "dapr.io/sidecar-memory-limit": f"{size.memory_limit_mi}Mi",
        "dapr.io/sidecar-seccomp-profile-type": "RuntimeDefault",
        "dapr.io/disable-builtin-k8s-secret-store": "true",
        **token,
    }
