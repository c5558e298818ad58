"""A real Jaeger (built from its Go module by scripts/jaeger-toolchain, in-memory storage, on
loopback) receives the service's spans over OTLP; its query API returns the request's trace
with the API, relay and consumer spans chained as the request went."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.processes import (
    ApiServer,
    ManagedProcess,
    ServiceEnv,
    consumer_process,
    free_port,
    wait_until,
)
from tests.app.helpers import PASSWORD

CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memory_store
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
"""


@dataclass(frozen=True)
class Jaeger:
    otlp_endpoint: str
    query_url: str
    process: ManagedProcess

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=10)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        (trace,) = answer.json()["data"]
        result: dict[str, Any] = trace
        return result


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[Jaeger]:
    binary = shutil.which("jaeger")
    assert binary, 'no jaeger on PATH: export PATH="$(scripts/jaeger-toolchain | tail -n 1):$PATH"'
    otlp, query, query_grpc = free_port(), free_port(), free_port()
    config = tmp_path / "jaeger.yaml"
    config.write_text(CONFIG.format(otlp=otlp, query=query, query_grpc=query_grpc))
    process = ManagedProcess("jaeger", [binary, "--config", str(config)], {})
    found = Jaeger(f"http://127.0.0.1:{otlp}", f"http://127.0.0.1:{query}", process)
    with process:
        process.wait_answering(f"{found.query_url}/api/services", 200)
        yield found


def _spans_by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = {key: p["serviceName"] for key, p in trace["processes"].items()}
    spans: dict[str, dict[str, Any]] = {}
    for span in trace["spans"]:
        span["service"] = services[span["processID"]]
        spans.setdefault(span["operationName"], span)
    return spans


def _parent(span: dict[str, Any]) -> str | None:
    refs = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
    return refs[0] if refs else None


def test_jaeger_holds_one_trace_from_the_request_to_the_consumer(
    jaeger: Jaeger, service_env: ServiceEnv, topics: str
) -> None:
    tracing = {
        "TODO_TRACING_ENABLED": "true",
        "TODO_KAFKA_TOPIC_PREFIX": topics,
        "TODO_KAFKA_CONSUMER_GROUP": f"{topics}stats",
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
        # Export within a fraction of a second, not the SDK's default 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    # The request names its trace, as a caller's own tracing would.
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    with (
        ApiServer(service_env, TODO_RELAY_IN_PROCESS="true", **tracing) as api,
        consumer_process(service_env, **tracing) as consumer,
    ):
        registered = httpx.post(
            f"{api.base_url}/api/v1/auth/register",
            json={"username": f"tracer-{uuid.uuid4().hex[:8]}", "password": PASSWORD},
            timeout=30,
        )
        token = registered.json()["access_token"]
        created = httpx.post(
            f"{api.base_url}/api/v1/tasks",
            json={"title": "traced through Jaeger"},
            headers={
                "authorization": f"Bearer {token}",
                "traceparent": f"00-{trace_id}-{caller_span}-01",
            },
            timeout=30,
        )
        assert created.status_code == 201, created.text
        topic = f"{topics}task.created"
        found: dict[str, dict[str, Any]] = {}

        def complete() -> bool:
            trace = jaeger.trace(trace_id)
            found.update(_spans_by_name(trace) if trace else {})
            return f"process {topic}" in found

        wait_until("the consumer's span to reach Jaeger", complete, timeout=120, every=0.5)
        assert consumer.running, consumer.log_tail()

    request = found["POST /api/v1/tasks"]
    publish, process = found[f"publish {topic}"], found[f"process {topic}"]
    assert _parent(request) == caller_span
    assert _parent(publish) == request["spanID"]
    assert _parent(process) == publish["spanID"]
    assert (request["service"], publish["service"], process["service"]) == (
        "todo-api",
        "todo-api",
        "todo-consumer",
    )
    statements = [
        s for s in found.values() if _parent(s) == request["spanID"] and s["service"] == "todo-api"
    ]
    assert any("INSERT" in s["operationName"] for s in statements), sorted(found)
    lines = sorted(f"{span['service']}: {name}" for name, span in found.items())
    print(f"Jaeger's trace {trace_id}:", *lines, sep="\n  ")
