"""HPAs: bounds, a CPU target (memory only when asked), fast scale-up and slow scale-down."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.autoscaling import (
    Autoscaler,
    AutoscalerArgs,
    AutoscalingSettings,
    ReplicaRange,
    ScalingPolicy,
)
from tests.infra.mock_run import one, run

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def _hpa(replicas: ReplicaRange, policy: ScalingPolicy | None = None) -> dict:
    args = AutoscalerArgs(
        namespace="todo-app",
        instance="todo",
        deployment_name="todo-backend",
        component="backend",
        replicas=replicas,
        policy=policy or ScalingPolicy(),
    )
    return one(run(lambda: Autoscaler("backend-autoscaler", args)), HPA).inputs


def test_prod_ranges_by_default():
    settings = AutoscalingSettings()
    assert (settings.frontend.min_replicas, settings.frontend.max_replicas) == (3, 15)
    assert (settings.backend.min_replicas, settings.backend.max_replicas) == (2, 10)


def test_targets_the_deployment_within_its_range():
    spec = _hpa(AutoscalingSettings().backend)["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "todo-backend",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)


def _targets(hpa: dict) -> dict:
    return {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}


def test_holds_70_percent_cpu_and_no_memory_target():
    # The service's memory does not fall when load does: a memory target would never scale down.
    assert _targets(_hpa(AutoscalingSettings().backend)) == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
    }


def test_a_memory_target_is_added_when_a_stack_asks_for_one():
    hpa = _hpa(AutoscalingSettings().backend, ScalingPolicy(memory_utilization=90))
    assert _targets(hpa)["memory"] == {"type": "Utilization", "averageUtilization": 90}


def test_scales_up_100_percent_every_15_seconds():
    up = _hpa(AutoscalingSettings().backend)["spec"]["behavior"]["scaleUp"]
    assert up["policies"] == [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    assert up["stabilizationWindowSeconds"] == 0


def test_scales_down_50_percent_per_5_minutes_after_a_stable_window():
    down = _hpa(AutoscalingSettings().backend)["spec"]["behavior"]["scaleDown"]
    assert down["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 300}]
    assert down["stabilizationWindowSeconds"] == 300


def test_stack_file_keys_are_camel_case():
    settings = AutoscalingSettings.model_validate(
        {"enabled": True, "backend": {"minReplicas": 3, "maxReplicas": 6}}
    )
    assert settings.backend == ReplicaRange(min_replicas=3, max_replicas=6)


def test_max_below_min_is_refused():
    with pytest.raises(ValidationError, match="max_replicas=1 is below min_replicas=2"):
        ReplicaRange(min_replicas=2, max_replicas=1)
