"""The stack's tracing: one collector for the service and the Dapr sidecars, off by default;
the Jaeger add-on; and the settings errors that name their keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.addons.jaeger import IMAGE, OTLP_HTTP_ENDPOINT, RELEASE
from stacks.config import StackConfigError
from tests.infra.manifests import Manifest, render
from tests.infra.test_config import load

REPO = Path(__file__).resolve().parents[2]
TRACED = {
    "tracing": {"enabled": True, "samplingRate": 0.25},
    "addons": {"jaeger": {"enabled": True}},
}


def _named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def traced() -> list[Manifest]:
    return render("prod", **TRACED).manifests()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_tracing_is_off_in_the_shipped_stacks(stacks, stack):
    manifests = stacks[stack].manifests()
    settings = _named(manifests, "ConfigMap", "todo-settings")["data"]
    assert not {k for k in settings if k.startswith(("OTEL_", "TODO_TRACING"))}
    assert not [m for m in manifests if m["metadata"].get("namespace") == "tracing"]


def test_the_service_exports_to_the_jaeger_add_on(traced):
    settings = _named(traced, "ConfigMap", "todo-settings")["data"]
    assert settings["TODO_TRACING_ENABLED"] == "true"
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == OTLP_HTTP_ENDPOINT
    assert settings["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert settings["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert settings["OTEL_TRACES_SAMPLER_ARG"] == "0.25"


def test_the_sidecars_trace_to_the_same_collector_at_the_same_rate(traced):
    (configuration,) = [m for m in traced if m["kind"] == "Configuration"]
    assert configuration["spec"]["tracing"] == {
        "samplingRate": "0.25",
        "stdout": False,
        "otel": {
            "endpointAddress": "jaeger.tracing.svc.cluster.local:4318",
            "isSecure": False,
            "protocol": "http",
        },
    }


def test_a_collector_of_ones_own_takes_the_place_of_the_add_on():
    manifests = render(
        "prod", tracing={"enabled": True, "endpoint": "https://otel.observability:4318/"}
    ).manifests()
    settings = _named(manifests, "ConfigMap", "todo-settings")["data"]
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otel.observability:4318"
    (configuration,) = [m for m in manifests if m["kind"] == "Configuration"]
    assert configuration["spec"]["tracing"]["otel"] == {
        "endpointAddress": "otel.observability:4318",
        "isSecure": True,
        "protocol": "http",
    }
    assert not [m for m in manifests if m["metadata"].get("namespace") == "tracing"]


def test_jaeger_runs_hardened_in_its_own_namespace_listening_beyond_loopback(traced):
    namespace = _named(traced, "Namespace", "tracing")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = _named(traced, "Deployment", "jaeger")
    assert deployment["metadata"]["namespace"] == "tracing"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "JAEGER_LISTEN_HOST", "value": "0.0.0.0"} in container["env"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/status", "port": "health"}
    assert pod["serviceAccountName"] == "jaeger"
    account = _named(traced, "ServiceAccount", "jaeger")
    assert account["metadata"]["namespace"] == "tracing"
    assert account["automountServiceAccountToken"] is False
    service = _named(traced, "Service", "jaeger")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"otlp-grpc": 4317, "otlp-http": 4318, "query": 16686, "health": 13133}


def test_the_add_ons_image_is_the_release_the_toolchain_builds():
    script = (REPO / "scripts" / "jaeger-toolchain").read_text()
    (pinned,) = re.findall(r"^JAEGER_RELEASE=(\S+)$", script, re.MULTILINE)
    assert pinned == RELEASE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"tracing": {"enabled": True}},
            r"todo-evolution: tracing\.enabled=true needs a collector: set tracing\.endpoint",
        ),
        (
            {
                **TRACED,
                "dapr": {
                    "tracing": {"exporter": "zipkin", "endpoint": "http://z:9411/api/v2/spans"}
                },
            },
            r"tracing\.enabled=true sets the sidecars' tracing too, but "
            r"dapr\.tracing\.exporter='zipkin' sets it again",
        ),
        (
            {"tracing": {"enabled": True, "endpoint": "otel:4318"}},
            r"todo-evolution:tracing\.endpoint: tracing\.endpoint must be an OTLP/HTTP base URL",
        ),
        (
            {"tracing": {"enabled": True, "endpoint": "http://otel:4318/v1/traces"}},
            r"todo-evolution:tracing\.endpoint: .*base URL",
        ),
        (
            {"tracing": {"samplingRate": 1.5}},
            r"todo-evolution:tracing\.samplingRate: Input should be less than or equal to 1",
        ),
    ],
)
def test_bad_tracing_settings_name_the_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        load(**overrides)
