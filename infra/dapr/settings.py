"""Per-stack Dapr settings: what a stack file may change about the sidecars and their runtime."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.component import SettingsModel
from infra.sizes import Size

LogLevel = Literal["debug", "info", "warn", "error"]


DEFAULT_SAMPLING_RATE = 0.1
"""Traced share of requests when a stack names a collector but no rate: small overhead, and a
busy service still yields a steady stream of traces."""


class TracingSettings(SettingsModel):
    """Where the sidecars send spans, and how many: nothing is traced unless a collector is named.

    A sampling rate with no collector would make spans that go nowhere, so it is refused rather
    than silently kept: a stack that sets a rate means to see traces.
    """

    sampling_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Share of requests traced (0 = none, 1 = all). Unset: 0.1 with an exporter, "
        "tracing off without one. A rate above 0 needs `tracing.endpoint`.",
    )
    exporter: Literal["none", "otlp", "zipkin"] = Field(
        default="none",
        description="Span exporter. `none` turns tracing off (sampling rate 0).",
    )
    endpoint: str | None = Field(
        default=None,
        description="Collector address: `host:port` for OTLP, the full span URL for Zipkin "
        "(e.g. `http://zipkin.monitoring:9411/api/v2/spans`). Required unless exporter is `none`.",
    )
    otlp_protocol: Literal["grpc", "http"] = Field(
        default="grpc", description="OTLP transport; only used when exporter is `otlp`."
    )
    otlp_insecure: bool = Field(
        default=True,
        description="Send OTLP without TLS: in-cluster collectors usually listen in plaintext.",
    )

    @model_validator(mode="after")
    def _endpoint_when_exporting(self) -> TracingSettings:
        if self.exporter == "none" and self.sampling_rate:
            raise ValueError(
                f"tracing.samplingRate={self.sampling_rate:g} is set but tracing.endpoint is "
                "not: the spans would go nowhere. Name the collector in tracing.endpoint (and "
                "tracing.exporter), or leave tracing.samplingRate unset to turn tracing off"
            )
        if self.exporter != "none" and not self.endpoint:
            raise ValueError(
                f"tracing.endpoint is required when tracing.exporter={self.exporter!r}"
            )
        if self.exporter == "none" and self.endpoint:
            raise ValueError(
                f"tracing.endpoint={self.endpoint!r} is set but tracing.exporter is 'none'"
            )
        return self

    @property
    def effective_sampling_rate(self) -> float | None:
        """The rate the sidecars sample at; ``None`` when tracing is off."""
        if self.exporter == "none":
            return None
        return DEFAULT_SAMPLING_RATE if self.sampling_rate is None else self.sampling_rate


class DaprSettings(SettingsModel):
    """Dapr for the app pods: sidecars, their Configuration and the event components."""

    enabled: bool = Field(
        default=True,
        description="Inject Dapr sidecars and create the Dapr resources. Needs the Dapr control "
        "plane (and its CRDs) in the cluster.",
    )
    log_level: LogLevel = Field(default="info", description="Sidecar log level.")
    sidecar_size: Size = Field(
        default="micro", description="Requests and limits of each injected `daprd` sidecar."
    )
    tracing: TracingSettings = Field(
        default_factory=TracingSettings, description="Distributed tracing by the sidecars."
    )
