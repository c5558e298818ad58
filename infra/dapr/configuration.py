"""The spec of the Dapr Configuration the app sidecars run with: tracing, mTLS and access control.

mTLS between sidecars is enforced by the control plane (Sentry), which reads the ``daprsystem``
Configuration of the Dapr namespace; the add-on install enables it (``global.mtls.enabled``).
This Configuration states the same policy for the apps (the CRD requires the trust domain and
Sentry's address with it), and its access control relies on the mTLS identities: no app may
invoke another unless a policy says so.
"""

from __future__ import annotations

from typing import Any

from infra.dapr.settings import DaprSettings, TracingSettings

WORKLOAD_CERT_TTL = "24h"
ALLOWED_CLOCK_SKEW = "15m"
CONTROL_PLANE_TRUST_DOMAIN = "cluster.local"
SENTRY_ADDRESS = "dapr-sentry.dapr-system.svc.cluster.local:443"
"""Dapr's defaults for a control plane installed in ``dapr-system``."""
APP_TRUST_DOMAIN = "public"
"""The trust domain apps get when their Configuration names none."""


def tracing_spec(tracing: TracingSettings) -> dict[str, Any]:
    """Sampling rate as Dapr wants it (a string) and the exporter's endpoint."""
    spec: dict[str, Any] = {"samplingRate": f"{tracing.sampling_rate:g}", "stdout": False}
    if tracing.exporter == "otlp":
        spec["otel"] = {
            "endpointAddress": tracing.endpoint,
            "isSecure": not tracing.otlp_insecure,
            "protocol": tracing.otlp_protocol,
        }
    elif tracing.exporter == "zipkin":
        spec["zipkin"] = {"endpointAddress": tracing.endpoint}
    return spec


def configuration_spec(settings: DaprSettings) -> dict[str, Any]:
    """The Configuration's spec."""
    return {
        "mtls": {
            "enabled": settings.mtls,
            "controlPlaneTrustDomain": CONTROL_PLANE_TRUST_DOMAIN,
            "sentryAddress": SENTRY_ADDRESS,
            "workloadCertTTL": WORKLOAD_CERT_TTL,
            "allowedClockSkew": ALLOWED_CLOCK_SKEW,
        },
        "tracing": tracing_spec(settings.tracing),
        # Service invocation is denied unless allowed: the apps talk through Kafka, not calls.
        "accessControl": {"defaultAction": "deny", "trustDomain": APP_TRUST_DOMAIN},
    }
