"""disruption_budget: one budget per replicated workload, never one that blocks drains."""

from __future__ import annotations

import pulumi_kubernetes.meta.v1 as meta
import pytest

from infra.disruption import default_min_available, disruption_budget
from tests.infra.manifests import build, named

SELECTOR = {"app.kubernetes.io/name": "web"}


def budget(replicas: int, min_available: int | None = None) -> None:
    disruption_budget(
        "web-pdb",
        metadata=meta.ObjectMetaArgs(name="web", namespace="ns"),
        selector=SELECTOR,
        replicas=replicas,
        min_available=min_available,
    )


def test_one_replica_gets_no_budget() -> None:
    assert build(lambda: budget(1)) == []


@pytest.mark.parametrize(("replicas", "keep"), [(2, 1), (3, 2), (10, 9)])
def test_default_keeps_all_but_one(replicas: int, keep: int) -> None:
    assert default_min_available(replicas) == keep
    pdb = named(build(lambda: budget(replicas)), "PodDisruptionBudget", "web")
    assert pdb["spec"]["minAvailable"] == keep
    assert pdb["spec"]["selector"]["matchLabels"] == SELECTOR
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_explicit_minimum() -> None:
    pdb = named(build(lambda: budget(5, 3)), "PodDisruptionBudget", "web")
    assert pdb["spec"]["minAvailable"] == 3


@pytest.mark.parametrize("keep", [0, 3, 4])
def test_a_budget_that_blocks_drains_is_refused(keep: int) -> None:
    with pytest.raises(ValueError, match=rf"min_available={keep} must be at least 1 and below"):
        budget(3, keep)


def test_zero_replicas_is_refused() -> None:
    with pytest.raises(ValueError, match=r"replicas=0 must be at least 1"):
        budget(0)
