"""Traces through daprd: the stack's tracing sends the service's spans and the sidecar's to one
collector, and an event daprd delivers is processed in the trace of the request that made it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from bench.dapr_self_hosted import SelfHostedApp
from bench.daprd import Daprd
from bench.load import TASKS, register_user
from bench.processes import ApiServer, ServiceEnv, wait_until
from tests.infra.manifests import render
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan


def test_an_event_delivered_by_daprd_is_processed_in_the_requests_trace(
    convert_dev: Callable[..., SelfHostedApp],
    service_env: ServiceEnv,
    topics: str,
    app_token: str,
) -> None:
    topic = f"{topics}task.created"
    with OtlpReceiver() as receiver:
        traced = {"enabled": True, "endpoint": receiver.endpoint, "samplingRate": 1}
        app = convert_dev(render("dev", tracing=traced).manifests())
        with ApiServer(
            service_env,
            TODO_KAFKA_TOPIC_PREFIX=topics,
            TODO_RELAY_IN_PROCESS="true",
            TODO_DAPR_APP_TOKEN=app_token,
            TODO_TRACING_ENABLED="true",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="200",
        ) as api:
            sidecar = Daprd(app, api.port, app_token)
            sidecar.start()
            try:
                sidecar.wait_ready()
                user = register_user(api.base_url, prefix="traced")
                trace_id = uuid.uuid4().hex
                created = httpx.post(
                    f"{api.base_url}{TASKS}",
                    json={"title": "traced through daprd"},
                    headers={
                        **user.headers,
                        "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
                    },
                    timeout=30,
                )
                assert created.status_code == 201, created.text

                def in_trace() -> dict[str, ReceivedSpan]:
                    return {s.name: s for s in receiver.spans() if s.trace_id == trace_id}

                wait_until(
                    "the process span to arrive",
                    lambda: f"process {topic}" in in_trace(),
                    timeout=120,
                    every=0.2,
                )
                # daprd exports its span when the delivery is answered: it may come later.
                wait_until(
                    "daprd's span to arrive",
                    lambda: f"pubsub/{topic}" in in_trace(),
                    timeout=60,
                    every=0.2,
                )
            finally:
                sidecar.stop()
    spans = in_trace()
    request, publish = spans["POST /api/v1/tasks"], spans[f"publish {topic}"]
    sidecar_span, delivery = spans[f"pubsub/{topic}"], spans["POST /events/task/{kind}"]
    process = spans[f"process {topic}"]
    assert publish.parent_span_id == request.span_id
    # daprd starts its span from the CloudEvent's traceparent (the request's context), and
    # sends its own context with the delivery; the process span is the delivery's child.
    assert sidecar_span.parent_span_id == request.span_id
    assert delivery.parent_span_id == sidecar_span.span_id
    assert process.parent_span_id == delivery.span_id
    assert process.kind == "SPAN_KIND_CONSUMER"
    print("trace through daprd:", *(f"{s.service}: {n}" for n, s in spans.items()), sep="\n  ")
