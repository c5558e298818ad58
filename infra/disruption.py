"""PodDisruptionBudgets: the one rule for how many pods of a workload a drain may take away.

Every workload with more than one replica gets a budget, so a node drain or a cluster upgrade
never evicts all of them at once. A single-replica workload gets none: a budget of
``minAvailable: 1`` on one pod would block every drain forever, which is worse than a short
outage the operator chose by running one replica.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.meta.v1 as meta
import pulumi_kubernetes.policy.v1 as policy


def default_min_available(replicas: int) -> int:
    """Keep all but one pod: the most a voluntary disruption may take at a time."""
    return max(1, replicas - 1)


def disruption_budget(
    resource_name: str,
    *,
    metadata: meta.ObjectMetaArgs,
    selector: dict[str, str],
    replicas: int,
    min_available: int | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> policy.PodDisruptionBudget | None:
    """A budget for a workload of ``replicas`` pods, or ``None`` when it has only one.

    ``replicas`` is the lowest count the workload runs at (an autoscaler's minimum when one owns
    the count). ``min_available`` defaults to all but one; it must stay below ``replicas``,
    otherwise no pod could ever be evicted and node drains would hang.
    """
    if replicas < 1:
        raise ValueError(f"replicas={replicas!r} must be at least 1")
    if replicas == 1:
        return None
    keep = default_min_available(replicas) if min_available is None else min_available
    if not 1 <= keep < replicas:
        raise ValueError(
            f"min_available={keep!r} must be at least 1 and below replicas={replicas!r}, "
            "otherwise a drain could never evict a pod"
        )
    return policy.PodDisruptionBudget(
        resource_name,
        metadata=metadata,
        spec=policy.PodDisruptionBudgetSpecArgs(
            min_available=keep,
            selector=meta.LabelSelectorArgs(match_labels=selector),
            # Pods that are not ready protect nothing: let a drain evict them.
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opts,
    )
