"""The stack's ``tracing`` block: one OTLP collector for the service and the Dapr sidecars.

The service reads ``TODO_TRACING_ENABLED`` (its typed settings) and the standard ``OTEL_*``
variables the OpenTelemetry SDK reads (endpoint, sampler); the Dapr Configuration's tracing is
derived from the same block (:func:`dapr_tracing`), so both send to one place at one rate and a
trace crosses the sidecar unbroken. docs/traces.md.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from infra.component import SettingsModel
from infra.dapr.settings import TracingSettings as DaprTracingSettings


class TracingSettings(SettingsModel):
    """Off by default: no exporter in the service, Dapr's tracing as ``dapr.tracing`` says."""

    enabled: bool = Field(
        default=False,
        description="Export the service's and the Dapr sidecars' spans over OTLP/HTTP to "
        "`tracing.endpoint`, or to the Jaeger add-on (`addons.jaeger.enabled`).",
    )
    endpoint: str | None = Field(
        default=None,
        description="The collector's OTLP/HTTP base URL (`http://host:4318`); unset: the "
        "Jaeger add-on's, which must then be on.",
    )
    sampling_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of new traces kept (OTEL_TRACES_SAMPLER_ARG, and Dapr's "
        "samplingRate); spans of a kept trace are kept downstream too.",
    )

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path.strip("/"):
            raise ValueError(
                f"tracing.endpoint must be an OTLP/HTTP base URL such as "
                f"http://collector.tracing:4318 (got {value!r})"
            )
        return value.rstrip("/")


def app_tracing_environment(settings: TracingSettings, endpoint: str) -> dict[str, str]:
    """What the service's containers read: its switch and the SDK's standard variables."""
    if not settings.enabled:
        return {}
    return {
        "TODO_TRACING_ENABLED": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # A request's decision holds for its events: the relay and consumer follow the parent.
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{settings.sampling_rate:g}",
    }


def dapr_tracing(settings: TracingSettings, endpoint: str) -> DaprTracingSettings:
    """The sidecars' tracing: the same collector (``host:port``, OTLP/HTTP) and rate."""
    parts = urlsplit(endpoint)
    default_port = 443 if parts.scheme == "https" else 80
    return DaprTracingSettings(
        exporter="otlp",
        endpoint=f"{parts.hostname}:{parts.port or default_port}",
        otlp_protocol="http",
        otlp_insecure=parts.scheme == "http",
        sampling_rate=settings.sampling_rate,
    )
