"""HorizontalPodAutoscalers (autoscaling/v2): scale up fast, scale down slowly, on CPU.

Scaling up doubles the pods every 15 s while load lasts, because a slow scale-up is an outage.
Scaling down removes at most half the pods per 5 minutes, and only after the load has stayed
low for the whole stabilisation window, so a short lull does not drop pods the next burst
needs. When an HPA owns a Deployment's count, the Deployment leaves ``replicas`` unset
(:mod:`infra.deployment`).

CPU is the load signal; memory is not, by default. A CPython process keeps the memory a burst
made it take (freed objects go back to its allocator's pools, not to the kernel), and each pod's
floor (interpreter, imports, pools) does not shrink when load spreads over more pods. An HPA
takes the largest of its metrics' wishes, so a memory target that a burst pushed past stays
past it and holds the extra pods after the load is gone. A stack may still set
``memoryUtilization`` for a workload whose memory follows its load.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.autoscaling.v2 as autoscaling
from pydantic import Field, model_validator

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta


class ReplicaRange(SettingsModel):
    """The pod counts an autoscaler keeps a workload between."""

    min_replicas: int = Field(ge=1, le=100, description="Fewest pods, also the PDB's basis.")
    max_replicas: int = Field(ge=1, le=500, description="Most pods.")

    @model_validator(mode="after")
    def _ordered(self) -> ReplicaRange:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas={self.max_replicas} is below min_replicas={self.min_replicas}"
            )
        return self


class ScalingPolicy(SettingsModel):
    """Targets and speeds shared by every autoscaled workload."""

    cpu_utilization: int = Field(
        default=70, ge=10, le=100, description="Average CPU use (% of request) to hold."
    )
    memory_utilization: int | None = Field(
        default=None,
        ge=10,
        le=100,
        description="Average memory use (% of request) to hold; unset scales on CPU only. "
        "The service's memory does not fall with load (see docs/operations.md), so a memory "
        "target would add pods that are never removed.",
    )
    scale_up_percent: int = Field(default=100, ge=1, le=1000, description="Growth per period.")
    scale_up_period_seconds: int = Field(default=15, ge=1, le=1800, description="Growth period.")
    scale_down_percent: int = Field(default=50, ge=1, le=100, description="Shrink per period.")
    scale_down_period_seconds: int = Field(
        default=300, ge=1, le=1800, description="Shrink period (5 minutes)."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="Load must stay low this long before pods are removed.",
    )


class AutoscalingSettings(SettingsModel):
    """Which workloads autoscale, between which counts, and how."""

    enabled: bool = Field(
        default=False,
        description="Create HPAs for the frontend and backend (needs metrics-server). When off "
        "the profiles' fixed replica counts apply.",
    )
    frontend: ReplicaRange = Field(
        default_factory=lambda: ReplicaRange(min_replicas=3, max_replicas=15),
        description="Frontend pod range (prod: 3-15).",
    )
    backend: ReplicaRange = Field(
        default_factory=lambda: ReplicaRange(min_replicas=2, max_replicas=10),
        description="Backend pod range (prod: 2-10).",
    )
    policy: ScalingPolicy = Field(
        default_factory=ScalingPolicy, description="Targets and scaling speeds."
    )


class AutoscalerArgs(ComponentArgs):
    """One HPA for one Deployment."""

    deployment_name: str = Field(description="Deployment whose replica count the HPA owns.")
    component: str = Field(description="Component label of the target (e.g. `backend`).")
    replicas: ReplicaRange
    policy: ScalingPolicy = Field(default_factory=ScalingPolicy)


def _utilization(resource: str, percent: int) -> autoscaling.MetricSpecArgs:
    return autoscaling.MetricSpecArgs(
        type="Resource",
        resource=autoscaling.ResourceMetricSourceArgs(
            name=resource,
            target=autoscaling.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )


def behavior(policy: ScalingPolicy) -> autoscaling.HorizontalPodAutoscalerBehaviorArgs:
    """The scale-up and scale-down rules of :class:`ScalingPolicy`."""
    return autoscaling.HorizontalPodAutoscalerBehaviorArgs(
        scale_up=autoscaling.HPAScalingRulesArgs(
            stabilization_window_seconds=0,
            select_policy="Max",
            policies=[
                autoscaling.HPAScalingPolicyArgs(
                    type="Percent",
                    value=policy.scale_up_percent,
                    period_seconds=policy.scale_up_period_seconds,
                )
            ],
        ),
        scale_down=autoscaling.HPAScalingRulesArgs(
            stabilization_window_seconds=policy.scale_down_stabilization_seconds,
            select_policy="Min",
            policies=[
                autoscaling.HPAScalingPolicyArgs(
                    type="Percent",
                    value=policy.scale_down_percent,
                    period_seconds=policy.scale_down_period_seconds,
                )
            ],
        ),
    )


class Autoscaler(pulumi.ComponentResource):
    """An autoscaling/v2 HPA on CPU and memory utilisation."""

    def __init__(
        self, name: str, args: AutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Autoscaler", name, None, opts)
        autoscaling.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=object_meta(
                child_name(args.deployment_name, "hpa"),
                namespace=args.namespace,
                labels=unversioned_labels("autoscaler", args.instance, args.component),
            ),
            spec=autoscaling.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=autoscaling.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=args.deployment_name
                ),
                min_replicas=args.replicas.min_replicas,
                max_replicas=args.replicas.max_replicas,
                metrics=[
                    _utilization("cpu", args.policy.cpu_utilization),
                    *(
                        [_utilization("memory", args.policy.memory_utilization)]
                        if args.policy.memory_utilization is not None
                        else []
                    ),
                ],
                behavior=behavior(args.policy),
            ),
            opts=child_options(self, opts),
        )
        self.register_outputs({})
