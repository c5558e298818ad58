"""Pinned Helm charts and the two ways this stack installs them.

``helm.v3.Release`` hands the chart to Helm inside the provider: Helm runs its hooks (jobs that
make webhook certificates, startup checks) in order and tracks the release; Pulumi sees one
resource. ``helm.v4.Chart`` renders the chart and registers every object as its own Pulumi
resource, so previews show each object and each one is awaited, but Helm hooks lose their
meaning: hook objects are applied like any other, with no ordering (pulumi-kubernetes issue
3284). A chart whose install depends on hooks therefore uses a Release; one without uses a Chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class PinnedChart:
    """A chart at one exact version: upgrades are a reviewed change of this constant."""

    name: str
    version: str
    repo: str

    def __post_init__(self) -> None:
        if not self.version or self.version[-1] in "*x" or self.version[0] in "^~<>=":
            raise ValueError(f"chart {self.name!r} version {self.version!r} is not pinned")


def helm_release(
    name: str,
    chart: PinnedChart,
    *,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    """A Helm release that waits for its workloads and rolls back a failed install."""
    return k8s.helm.v3.Release(
        name,
        k8s.helm.v3.ReleaseArgs(
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            create_namespace=True,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
            max_history=5,
        ),
        opts=opts,
    )


def helm_chart(
    name: str,
    chart: PinnedChart,
    *,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart:
    """A chart rendered into individual Pulumi resources (no hooks; see the module docstring)."""
    return k8s.helm.v4.Chart(
        name,
        k8s.helm.v4.ChartArgs(
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            values=values,
        ),
        opts=opts,
    )
