"""Every prerequisite a stack has on its cluster, checked: ``todo-infra doctor`` lists them,
``preview`` and ``up`` refuse in one line while one is missing.

The prerequisites are the CRDs of installations the stack's objects need (below) and the
settings of controllers the stack does not install (:mod:`stacks.controllers`).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.cluster import NoCluster
from infra.dapr.resources import CRDS as DAPR_CRDS
from infra.monitoring import CRDS as MONITORING_CRDS
from stacks.cluster_checks import ClusterLookup, Prerequisite, Status, not_needed
from stacks.config import PROJECT, StackConfig
from stacks.controllers import dapr_injector, ingress_headers
from stacks.preflight import PreflightError


@dataclass(frozen=True)
class CrdNeed:
    """CRDs the stack's objects need from an installation the stack does not make."""

    owner: str
    crds: tuple[str, ...]
    remedy: str
    not_needed: str
    """Why the stack does not need them, or empty when it does."""


def crd_needs(config: StackConfig) -> list[CrdNeed]:
    """Dapr's CRDs when the stack uses Dapr, the Prometheus Operator's when it monitors, each
    unless the stack installs the add-on (its objects then wait for the add-on instead)."""
    return [
        CrdNeed(
            "Dapr",
            DAPR_CRDS,
            "install Dapr (its Helm chart or `dapr init -k`), or set "
            f"{PROJECT}:addons.dapr.enabled=true to install it with the stack, or "
            f"{PROJECT}:dapr.enabled=false",
            not_needed(
                {"dapr.enabled": config.dapr.enabled},
                "addons.dapr.enabled",
                config.addons.dapr.enabled,
                "them",
            ),
        ),
        CrdNeed(
            "Prometheus Operator",
            MONITORING_CRDS,
            "install the Prometheus Operator, or set "
            f"{PROJECT}:addons.kubePrometheusStack.enabled=true to install it with the "
            f"stack, or {PROJECT}:monitoring.enabled=false",
            not_needed(
                {"monitoring.enabled": config.monitoring.enabled},
                "addons.kubePrometheusStack.enabled",
                config.addons.kube_prometheus_stack.enabled,
                "them",
            ),
        ),
    ]


def crd_prerequisites(config: StackConfig, cluster: ClusterLookup) -> list[Prerequisite]:
    """One prerequisite per installation, asking the cluster once for every CRD needed."""
    needs = crd_needs(config)
    wanted = tuple(name for need in needs if not need.not_needed for name in need.crds)
    present: set[str] = set()
    unknown = ""
    # A cluster the stack creates has none yet: nothing to ask.
    if wanted and isinstance(config.cluster, NoCluster):
        try:
            present = cluster.crds(wanted)
        except PreflightError as error:
            unknown = str(error)
    found = []
    for need in needs:
        name = f"{need.owner} CRDs"
        missing = [crd for crd in need.crds if crd not in present]
        if need.not_needed:
            found.append(Prerequisite(name, Status.NOT_NEEDED, need.not_needed))
        elif unknown:
            found.append(Prerequisite(name, Status.UNKNOWN, unknown))
        elif missing:
            detail = f"the cluster lacks the {need.owner} CRDs {', '.join(missing)}"
            found.append(Prerequisite(name, Status.MISSING, detail, need.remedy))
        else:
            found.append(Prerequisite(name, Status.OK, ", ".join(need.crds)))
    return found


def check_all(config: StackConfig, cluster: ClusterLookup) -> list[Prerequisite]:
    """Every prerequisite of the stack, each with its status."""
    return [
        *crd_prerequisites(config, cluster),
        ingress_headers(config, cluster),
        dapr_injector(config, cluster),
    ]


def require_prerequisites(config: StackConfig, cluster: ClusterLookup) -> None:
    """Refuse, in one line naming each, while a prerequisite is missing or cannot be checked."""
    problems = [found.line() for found in check_all(config, cluster) if found.status.blocking]
    if problems:
        raise PreflightError("; ".join(problems))
