"""``todo-infra``'s checks before the engine: one line instead of a wall of engine errors."""

from __future__ import annotations

import pytest

from stacks.config import StackConfigError
from stacks.preflight import PreflightError, missing_secrets, require_crds, validated_config
from tests.infra.manifests import REPO, render

DAPR_CRDS = {"components.dapr.io", "configurations.dapr.io"}


def test_missing_dapr_crds_are_named_in_one_line() -> None:
    config = render("dev").config
    with pytest.raises(PreflightError) as refused:
        require_crds(config, lambda names: set())
    message = str(refused.value)
    assert "\n" not in message
    assert "components.dapr.io, configurations.dapr.io" in message


def test_only_the_missing_crds_are_named() -> None:
    with pytest.raises(PreflightError) as refused:
        require_crds(render("dev").config, lambda names: {"configurations.dapr.io"})
    assert "configurations.dapr.io" not in str(refused.value).split(":")[0]


def test_present_dapr_crds_pass() -> None:
    require_crds(render("prod").config, lambda names: set(names))


def test_subscriptions_crd_is_not_required() -> None:
    # The API subscribes programmatically (GET /dapr/subscribe); the stack has no Subscription.
    require_crds(render("prod").config, lambda names: DAPR_CRDS)


def test_no_crds_asked_for_when_the_stack_installs_dapr() -> None:
    config = render("dev", addons={"dapr": {"enabled": True}}).config

    def lookup(names: tuple[str, ...]) -> set[str]:
        raise AssertionError(f"asked the cluster for {names}")

    require_crds(config, lookup)


def test_no_crds_asked_for_without_dapr() -> None:
    require_crds(render("dev", dapr={"enabled": False}).config, lambda names: set())


def test_a_cluster_the_stack_creates_has_no_dapr_yet() -> None:
    config = render("prod", cluster={"provider": "eks", "region": "eu-west-1"}).config
    with pytest.raises(PreflightError, match=r"components\.dapr\.io"):
        require_crds(config, lambda names: set(names))


def test_monitoring_without_the_add_on_needs_the_operators_crds() -> None:
    config = render("prod", monitoring={"enabled": True}).config
    with pytest.raises(PreflightError) as refused:
        require_crds(config, lambda names: DAPR_CRDS)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        "the cluster lacks the Prometheus Operator CRDs podmonitors.monitoring.coreos.com, "
        "prometheusrules.monitoring.coreos.com: "
    )
    assert "addons.kubePrometheusStack.enabled=true" in message
    assert "Dapr" not in message


def test_both_missing_installations_are_named_in_one_line() -> None:
    config = render("prod", monitoring={"enabled": True}).config
    with pytest.raises(PreflightError) as refused:
        require_crds(config, lambda names: set())
    message = str(refused.value)
    assert "\n" not in message
    assert "Dapr CRDs" in message
    assert "Prometheus Operator CRDs" in message


def test_no_operator_crds_asked_for_when_the_stack_installs_it() -> None:
    config = render(
        "prod", monitoring={"enabled": True}, addons={"kubePrometheusStack": {"enabled": True}}
    ).config
    asked: list[tuple[str, ...]] = []

    def lookup(names: tuple[str, ...]) -> set[str]:
        asked.append(names)
        return set(names)

    require_crds(config, lookup)
    assert asked == [tuple(sorted(DAPR_CRDS))]


def test_secrets_must_be_set_and_secret() -> None:
    config = {"todo-evolution:postgresPassword": "x", "todo-evolution:jwtSecret": "y"}
    assert missing_secrets(config, {"todo-evolution:jwtSecret"}) == [
        "todo-evolution:postgresPassword",
        "todo-evolution:redisPassword",
    ]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_preview_and_up_refuse_a_tracked_stack_file_without_the_users_image(stack: str) -> None:
    with pytest.raises(StackConfigError, match=r"todo-evolution:appImage: required: the image"):
        validated_config(REPO / f"Pulumi.{stack}.yaml")
