"""Per-stack Dapr settings: what a stack file may change about the sidecars and their runtime."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.component import SettingsModel
from infra.sizes import Size

LogLevel = Literal["debug", "info", "warn", "error"]


class TracingSettings(SettingsModel):
    """Where the sidecars send spans, and how many."""

    sampling_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of requests traced (0 = none, 1 = all). 10% keeps overhead small "
        "while a busy service still yields a steady stream of traces.",
    )
    exporter: Literal["none", "otlp", "zipkin"] = Field(
        default="none",
        description="Span exporter. `none` samples for log correlation but sends nothing.",
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
        if self.exporter != "none" and not self.endpoint:
            raise ValueError(
                f"tracing.endpoint is required when tracing.exporter={self.exporter!r}"
            )
        if self.exporter == "none" and self.endpoint:
            raise ValueError(
                f"tracing.endpoint={self.endpoint!r} is set but tracing.exporter is 'none'"
            )
        return self


class DaprSettings(SettingsModel):
    """Dapr for the app pods: sidecars, their Configuration and the event components."""

    enabled: bool = Field(
        default=True,
        description="Inject Dapr sidecars and create the Dapr resources. Needs the Dapr control "
        "plane (and its CRDs) in the cluster.",
    )
    mtls: bool = Field(
        default=True,
        description="Mutual TLS between sidecars. Turning it off sends service calls in "
        "plaintext; only for debugging.",
    )
    log_level: LogLevel = Field(default="info", description="Sidecar log level.")
    sidecar_size: Size = Field(
        default="micro", description="Requests and limits of each injected `daprd` sidecar."
    )
    tracing: TracingSettings = Field(
        default_factory=TracingSettings, description="Distributed tracing by the sidecars."
    )
