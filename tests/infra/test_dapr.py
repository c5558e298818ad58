"""Dapr: components scoped to the API, secrets by reference, tracing and mTLS, subscriptions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.dapr.resources import Dapr, DaprArgs
from infra.dapr.settings import DaprSettings, TracingSettings
from tests.infra.mock_run import Registered, of_type, one, run

COMPONENT = "kubernetes:dapr.io/v1alpha1:Component"
CONFIGURATION = "kubernetes:dapr.io/v1alpha1:Configuration"
SUBSCRIPTION = "kubernetes:dapr.io/v2alpha1:Subscription"


def _render(settings: DaprSettings | None = None) -> list[Registered]:
    args = DaprArgs(
        namespace="todo-app",
        instance="todo",
        settings=settings or DaprSettings(),
        redis_address="todo-redis:6379",
        secret_name="todo-credentials",
        redis_password_key="REDIS_PASSWORD",
        kafka_brokers="todo-kafka:9092",
    )
    return run(lambda: Dapr("dapr", args))


def _component(resources: list[Registered], name: str) -> dict:
    (found,) = [
        r.inputs for r in of_type(resources, COMPONENT) if r.inputs["metadata"]["name"] == name
    ]
    return found


def _metadata(component: dict) -> dict:
    return {item["name"]: item for item in component["spec"]["metadata"]}


def test_every_component_and_subscription_is_scoped_to_the_api_at_top_level():
    resources = _render()
    scoped = of_type(resources, COMPONENT) + of_type(resources, SUBSCRIPTION)
    assert len(scoped) == 7
    for resource in scoped:
        assert resource.inputs["scopes"] == ["todo-api"], resource.name
        assert "scopes" not in resource.inputs["spec"], resource.name


def test_statestore_is_redis_with_the_password_from_the_secret():
    statestore = _component(_render(), "statestore")
    assert statestore["spec"]["type"] == "state.redis"
    metadata = _metadata(statestore)
    assert metadata["redisHost"]["value"] == "todo-redis:6379"
    assert metadata["redisPassword"] == {
        "name": "redisPassword",
        "secretKeyRef": {"name": "todo-credentials", "key": "REDIS_PASSWORD"},
    }
    assert statestore["auth"] == {"secretStore": "kubernetes"}


def test_pubsub_is_kafka_on_the_platform_brokers():
    pubsub = _component(_render(), "pubsub")
    assert pubsub["spec"]["type"] == "pubsub.kafka"
    metadata = _metadata(pubsub)
    assert metadata["brokers"]["value"] == "todo-kafka:9092"
    assert metadata["consumerGroup"]["value"] == "todo-api"


def test_kafka_binding_is_output_only():
    binding = _component(_render(), "task-events")
    assert binding["spec"]["type"] == "bindings.kafka"
    metadata = _metadata(binding)
    assert metadata["direction"]["value"] == "output"
    assert metadata["publishTopic"]["value"] == "task.updated"


@pytest.mark.parametrize("name", ["pubsub", "task-events"])
def test_kafka_components_speak_kafka_4(name):
    # Sarama's default protocol (2.0.0) uses request versions Kafka 4 removed (KIP-896).
    assert _metadata(_component(_render(), name))["version"]["value"] == "4.0.0"


def test_no_secret_value_in_any_component():
    for component in of_type(_render(), COMPONENT):
        for item in component.inputs["spec"]["metadata"]:
            assert "password" not in item["name"].lower() or "secretKeyRef" in item


def test_configuration_has_mtls_and_deny_by_default_invocation():
    configuration = one(_render(), CONFIGURATION).inputs
    assert configuration["metadata"]["name"] == "todo-dapr"
    mtls = configuration["spec"]["mtls"]
    assert mtls["enabled"] is True
    # Dapr's CRD rejects an mtls block without these two.
    assert mtls["controlPlaneTrustDomain"] == "cluster.local"
    assert mtls["sentryAddress"].startswith("dapr-sentry.dapr-system.svc")
    assert configuration["spec"]["accessControl"]["defaultAction"] == "deny"


def test_tracing_sampling_and_otlp_endpoint_are_configurable():
    tracing = TracingSettings(sampling_rate=0.25, exporter="otlp", endpoint="otel:4317")
    spec = one(_render(DaprSettings(tracing=tracing)), CONFIGURATION).inputs["spec"]["tracing"]
    assert spec["samplingRate"] == "0.25"
    assert spec["otel"] == {"endpointAddress": "otel:4317", "isSecure": False, "protocol": "grpc"}


def test_tracing_to_zipkin():
    url = "http://zipkin.monitoring:9411/api/v2/spans"
    tracing = TracingSettings(sampling_rate=1, exporter="zipkin", endpoint=url)
    spec = one(_render(DaprSettings(tracing=tracing)), CONFIGURATION).inputs["spec"]["tracing"]
    assert spec == {"samplingRate": "1", "stdout": False, "zipkin": {"endpointAddress": url}}


@pytest.mark.parametrize("kind", ["created", "updated", "deleted", "completed"])
def test_subscription_routes_each_topic_to_its_handler(kind):
    (subscription,) = [
        r.inputs
        for r in of_type(_render(), SUBSCRIPTION)
        if r.inputs["spec"]["topic"] == f"task.{kind}"
    ]
    assert subscription["apiVersion"] == "dapr.io/v2alpha1"
    assert subscription["spec"]["pubsubname"] == "pubsub"
    assert subscription["spec"]["routes"] == {"default": f"/events/task/{kind}"}


def test_exporter_without_endpoint_is_refused():
    with pytest.raises(ValidationError, match=r"tracing\.endpoint is required"):
        TracingSettings(exporter="zipkin")


def test_sampling_rate_above_one_is_refused():
    with pytest.raises(ValidationError, match=r"sampling_rate|samplingRate"):
        TracingSettings(sampling_rate=1.5)


def test_stack_files_use_camel_case_keys():
    settings = DaprSettings.model_validate(
        {"sidecarSize": "small", "tracing": {"samplingRate": 0.5}}
    )
    assert settings.sidecar_size == "small"
    assert settings.tracing.sampling_rate == 0.5
