"""The spec of the Dapr Configuration the app sidecars run with: tracing and access control.

mTLS is not set here: Dapr reads it only from the ``daprsystem`` Configuration of the control
plane's namespace (Sentry issues the certificates, the injector hands out the trust anchors), so
an ``mtls`` block in an app's Configuration is ignored. It is a setting of the Dapr install:
``addons.dapr.mtls`` when the stack installs Dapr (:mod:`infra.addons.dapr`), the chart's
``global.mtls`` values otherwise. The access control below relies on the mTLS identities: no
app may invoke another unless a policy says so.
"""

from __future__ import annotations

from typing import Any

from infra.dapr.settings import DaprSettings, TracingSettings

APP_TRUST_DOMAIN = "public"
"""The trust domain apps get when their Configuration names none."""
TRACING_OFF = "0"
"""Dapr's sampling rate for no tracing. Left out, Dapr samples 1 in 10,000 requests anyway."""


def tracing_spec(tracing: TracingSettings) -> dict[str, Any]:
    """Sampling rate as Dapr wants it (a string) and the exporter's endpoint; off without one."""
    rate = tracing.effective_sampling_rate
    spec: dict[str, Any] = {
        "samplingRate": TRACING_OFF if rate is None else f"{rate:g}",
        "stdout": False,
    }
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
        "tracing": tracing_spec(settings.tracing),
        # Service invocation is denied unless allowed: the apps talk through Kafka, not calls.
        "accessControl": {"defaultAction": "deny", "trustDomain": APP_TRUST_DOMAIN},
    }
