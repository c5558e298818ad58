"""Dapr: components scoped to the API, secrets by reference, tracing, access control."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.dapr.resources import Dapr, DaprArgs
from infra.dapr.settings import DaprSettings, TracingSettings
from tests.infra.mock_run import Registered, of_type, one, run

COMPONENT = "kubernetes:dapr.io/v1alpha1:Component"
CONFIGURATION = "kubernetes:dapr.io/v1alpha1:Configuration"


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


def test_every_component_is_scoped_to_the_api_at_top_level():
    scoped = of_type(_render(), COMPONENT)
    assert len(scoped) == 3
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


def test_configuration_denies_invocation_and_leaves_mtls_to_the_control_plane():
    configuration = one(_render(), CONFIGURATION).inputs
    assert configuration["metadata"]["name"] == "todo-dapr"
    assert configuration["spec"]["accessControl"]["defaultAction"] == "deny"
    # Dapr reads mTLS only from the daprsystem Configuration (issue 11, b): here it was a no-op.
    assert "mtls" not in configuration["spec"]


def test_tracing_is_off_without_a_collector():
    # Left out, Dapr samples 1 in 10,000 requests; "0" is its explicit off (issue 11, c).
    spec = one(_render(), CONFIGURATION).inputs["spec"]["tracing"]
    assert spec == {"samplingRate": "0", "stdout": False}


def test_a_sampling_rate_without_an_endpoint_is_refused_naming_both_keys():
    with pytest.raises(
        ValidationError,
        match=r"tracing\.samplingRate=0\.1 is set but tracing\.endpoint is not",
    ):
        TracingSettings(sampling_rate=0.1)


def test_a_zero_sampling_rate_without_an_endpoint_is_tracing_off():
    assert TracingSettings(sampling_rate=0).effective_sampling_rate is None


def test_a_collector_without_a_rate_samples_a_tenth():
    tracing = TracingSettings(exporter="otlp", endpoint="otel:4317")
    spec = one(_render(DaprSettings(tracing=tracing)), CONFIGURATION).inputs["spec"]["tracing"]
    assert spec["samplingRate"] == "0.1"


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


def test_exporter_without_endpoint_is_refused():
    with pytest.raises(ValidationError, match=r"tracing\.endpoint is required"):
        TracingSettings(exporter="zipkin")


def test_sampling_rate_above_one_is_refused():
    with pytest.raises(ValidationError, match=r"sampling_rate|samplingRate"):
        TracingSettings(sampling_rate=1.5)


def test_stack_files_use_camel_case_keys():
    settings = DaprSettings.model_validate(
        {
            "sidecarSize": "small",
            "tracing": {
                "samplingRate": 0.5,
                "exporter": "zipkin",
                "endpoint": "http://zipkin:9411/api/v2/spans",
            },
        }
    )
    assert settings.sidecar_size == "small"
    assert settings.tracing.sampling_rate == 0.5
