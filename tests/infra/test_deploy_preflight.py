"""``todo-infra``'s checks before the engine: one line instead of a wall of engine errors."""

from __future__ import annotations

import pytest

from stacks.cluster_checks import Status
from stacks.config import StackConfig, StackConfigError
from stacks.preflight import PreflightError, missing_secrets, validated_config
from stacks.prerequisites import crd_prerequisites, require_prerequisites
from tests.infra.cluster_fakes import FakeCluster, stack
from tests.infra.manifests import REPO

DAPR_CRDS = {"components.dapr.io", "configurations.dapr.io"}


def refusal(config: StackConfig, cluster: FakeCluster) -> str:
    with pytest.raises(PreflightError) as refused:
        require_prerequisites(config, cluster)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_missing_dapr_crds_are_named_in_one_line() -> None:
    message = refusal(stack("dev"), FakeCluster())
    assert "components.dapr.io, configurations.dapr.io" in message


def test_only_the_missing_crds_are_named() -> None:
    message = refusal(stack("dev"), FakeCluster({"configurations.dapr.io"}))
    assert message.startswith("the cluster lacks the Dapr CRDs components.dapr.io: install Dapr")


def test_present_dapr_crds_pass() -> None:
    # Not subscriptions.dapr.io: the API subscribes programmatically (GET /dapr/subscribe).
    require_prerequisites(stack("prod"), FakeCluster(DAPR_CRDS))


def test_no_crds_asked_for_when_the_stack_installs_dapr() -> None:
    cluster = FakeCluster()
    require_prerequisites(stack("dev", addons={"dapr": {"enabled": True}}), cluster)
    assert "crds" not in cluster.asked


def test_no_crds_asked_for_without_dapr() -> None:
    cluster = FakeCluster()
    require_prerequisites(stack("dev", dapr={"enabled": False}), cluster)
    assert "crds" not in cluster.asked


def test_a_cluster_the_stack_creates_has_no_dapr_yet() -> None:
    config = stack("prod", cluster={"provider": "eks", "region": "eu-west-1"})
    cluster = FakeCluster(DAPR_CRDS)
    assert "components.dapr.io" in refusal(config, cluster)
    assert cluster.asked == []


def test_monitoring_without_the_add_on_needs_the_operators_crds() -> None:
    message = refusal(stack("prod", monitoring={"enabled": True}), FakeCluster(DAPR_CRDS))
    assert message.startswith(
        "the cluster lacks the Prometheus Operator CRDs podmonitors.monitoring.coreos.com, "
        "prometheusrules.monitoring.coreos.com: "
    )
    assert "addons.kubePrometheusStack.enabled=true" in message
    assert "Dapr" not in message


def test_both_missing_installations_are_named_in_one_line() -> None:
    message = refusal(stack("prod", monitoring={"enabled": True}), FakeCluster())
    assert "Dapr CRDs" in message
    assert "Prometheus Operator CRDs" in message


def test_no_operator_crds_asked_for_when_the_stack_installs_it() -> None:
    config = stack(
        "prod", monitoring={"enabled": True}, addons={"kubePrometheusStack": {"enabled": True}}
    )
    found = {p.name: p for p in crd_prerequisites(config, FakeCluster(DAPR_CRDS))}
    assert found["Prometheus Operator CRDs"].status is Status.NOT_NEEDED
    assert found["Dapr CRDs"].status is Status.OK


def test_a_cluster_that_cannot_be_asked_is_named_once_per_check() -> None:
    message = refusal(stack("dev"), FakeCluster(broken="connection refused"))
    assert message.count("cannot ask the cluster with kubectl: connection refused") == 3


def test_secrets_must_be_set_and_secret() -> None:
    config: dict[str, object] = {
        "todo-evolution:postgresPassword": "x",
        "todo-evolution:jwtSecret": "y",
    }
    assert missing_secrets(config, {"todo-evolution:jwtSecret"}) == [
        "todo-evolution:postgresPassword",
        "todo-evolution:redisPassword",
    ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_preview_and_up_refuse_a_tracked_stack_file_without_the_users_image(stack: str) -> None:
    with pytest.raises(StackConfigError, match=r"todo-evolution:appImage: required: the image"):
        validated_config(REPO / f"Pulumi.{stack}.yaml")
