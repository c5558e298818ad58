"""Dapr as every shipped stack deploys it, checked against what Dapr 1.16 does with it.

Each test guards one defect the review of issue 11 found in the rendered stacks: a sidecar that
would crash-loop, a dead Role, mTLS settings Dapr ignores, tracing that sends nothing, a sidecar
that does nothing.
"""

from __future__ import annotations

import pytest

from stacks.config import StackConfigError
from stacks.render import Rendered
from stacks.summary import pod_template
from tests.infra.manifests import STACKS, Manifest, of_kind, render, workloads

DISABLE_BUILTIN_SECRET_STORE = "dapr.io/disable-builtin-k8s-secret-store"


def _dapr_pods(manifests: list[Manifest]) -> dict[str, Manifest]:
    """The pod templates the Dapr injector adds a sidecar to, by workload name."""
    return {
        workload["metadata"]["name"]: pod_template(workload)
        for workload in workloads(manifests)
        if (pod_template(workload)["metadata"].get("annotations") or {}).get("dapr.io/enabled")
        == "true"
    }


@pytest.mark.parametrize("stack", STACKS)
def test_sidecars_without_an_api_token_do_not_load_the_kubernetes_secret_store(
    stacks: dict[str, Rendered], stack: str
) -> None:
    # daprd loads its built-in `kubernetes` secret store unless told not to; its init needs the
    # pod's API token and fails without one, taking the sidecar down with it (issue 11, a).
    pods = _dapr_pods(stacks[stack].manifests())
    assert pods
    for name, pod in pods.items():
        assert pod["spec"]["automountServiceAccountToken"] is False, name
        assert pod["metadata"]["annotations"][DISABLE_BUILTIN_SECRET_STORE] == "true", name


@pytest.mark.parametrize("stack", STACKS)
def test_no_account_has_api_permissions(stacks: dict[str, Rendered], stack: str) -> None:
    # The secret-reader Role was for the sidecar's secret store: Dapr's operator resolves the
    # Components' secretKeyRef itself, so nothing used it (issue 11, a).
    manifests = stacks[stack].manifests()
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert of_kind(manifests, kind) == [], kind


@pytest.mark.parametrize("stack", STACKS)
def test_app_configuration_carries_no_mtls(stacks: dict[str, Rendered], stack: str) -> None:
    # Only the daprsystem Configuration of the control plane is read for mTLS (issue 11, b).
    (configuration,) = of_kind(stacks[stack].manifests(), "Configuration")
    assert "mtls" not in configuration["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_trace_nothing_without_a_collector(
    stacks: dict[str, Rendered], stack: str
) -> None:
    # No stack names a collector, so tracing is off explicitly, not sampled into nowhere
    # (issue 11, c).
    (configuration,) = of_kind(stacks[stack].manifests(), "Configuration")
    assert configuration["spec"]["tracing"] == {"samplingRate": "0", "stdout": False}


def test_a_stack_sampling_into_nowhere_is_refused_naming_both_keys() -> None:
    with pytest.raises(StackConfigError) as refused:
        render("dev", dapr={"tracing": {"samplingRate": 0.2}})
    message = str(refused.value)
    assert "todo-evolution:dapr.tracing: tracing.samplingRate=0.2 is set" in message
    assert "tracing.endpoint" in message


def test_a_stack_naming_a_collector_traces_to_it() -> None:
    tracing = {"exporter": "otlp", "endpoint": "otel-collector.monitoring:4317"}
    (configuration,) = of_kind(
        render("prod", dapr={"tracing": tracing}).manifests(), "Configuration"
    )
    spec = configuration["spec"]["tracing"]
    assert spec["samplingRate"] == "0.1"
    assert spec["otel"]["endpointAddress"] == "otel-collector.monitoring:4317"


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_api_gets_a_sidecar(stacks: dict[str, Rendered], stack: str) -> None:
    # Static nginx makes no Dapr call; its sidecar cost 100m CPU / 192Mi per replica in prod
    # (issue 11, e).
    manifests = stacks[stack].manifests()
    assert set(_dapr_pods(manifests)) == {"todo-backend"}
    policies = {p["metadata"]["name"] for p in of_kind(manifests, "NetworkPolicy")}
    assert "todo-allow-dapr-to-frontend" not in policies
    assert "todo-allow-scrape-frontend" not in policies
