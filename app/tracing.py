"""OpenTelemetry for one process: a tracer provider exporting OTLP, or nothing at all.

Off (``TODO_TRACING_ENABLED`` unset) there is no provider, no instrumentation and no span: the
components get ``None`` for a tracer and skip their tracing code, so the cost is a branch.

On, spans go in batches over OTLP/HTTP to where the standard variables say
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), sampled as
``OTEL_TRACES_SAMPLER`` says (parent-based, all roots by default), under ``OTEL_SERVICE_NAME``
(default: the command's). FastAPI requests (but the probes and /metrics) start traces;
SQLAlchemy statements only join one: their provider samples no root, or every relay poll and
pruning pass would be a trace of its own. No global provider is set, so tests run several
apps, each with its own, in one process.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Tracer
from sqlalchemy import Engine

from app.core.config import Settings

UNTRACED_URLS = "/healthz,/readyz,/metrics"
"""Probes and scrapes: frequent, and nothing to follow."""


class Tracing:
    """The process's tracer provider (``None`` when tracing is off) and what it instruments."""

    def __init__(
        self, processor: SpanProcessor | None = None, service_name: str = "todo-api"
    ) -> None:
        """``processor``: where finished spans go; tests pass one with an in-memory exporter."""
        self._provider: TracerProvider | None = None
        self._joining: TracerProvider | None = None
        if processor is None:
            return
        # The stack's OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the default name.
        resource = Resource.create({SERVICE_NAME: service_name}).merge(
            OTELResourceDetector().detect()
        )
        self._provider = TracerProvider(resource=resource)
        self._provider.add_span_processor(processor)
        self._joining = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_OFF))
        self._joining.add_span_processor(processor)

    @classmethod
    def from_settings(cls, settings: Settings, service_name: str) -> Tracing:
        if not settings.tracing_enabled:
            return cls()
        return cls(BatchSpanProcessor(OTLPSpanExporter()), service_name)

    @property
    def tracer(self) -> Tracer | None:
        """The service's own spans (events); ``None`` when off."""
        return None if self._provider is None else self._provider.get_tracer("app")

    def instrument_app(self, app: FastAPI) -> None:
        if self._provider is not None:
            FastAPIInstrumentor.instrument_app(
                app, tracer_provider=self._provider, excluded_urls=UNTRACED_URLS
            )

    def instrument_engine(self, engine: Engine) -> None:
        """Statements as spans inside the current trace (none outside one)."""
        if self._joining is not None:
            # The engine's own tracer, not SQLAlchemyInstrumentor, which would patch
            # create_engine for the whole process. Connection-pool metrics are not wanted.
            usage = NoOpMeter("sqlalchemy").create_up_down_counter("db.client.connections.usage")
            # The instrumentation package ships no annotations for its constructor.
            EngineTracer(self._joining.get_tracer("sqlalchemy"), engine, usage)  # type: ignore[no-untyped-call]

    def shutdown(self) -> None:
        """Export what is still buffered (the processor is shared: one shutdown)."""
        if self._provider is not None:
            self._provider.shutdown()
