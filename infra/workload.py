"""Hardened containers and pod specs: what every workload is built from.

Components describe what differs (image, size, probes, ports, mounts); this module adds what
never differs: the security contexts of :mod:`infra.security`, requests and limits from
:mod:`infra.sizes`, a pinned image, no service-account token unless asked for, and the
spreading rule for replicas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import pulumi
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta

from infra.labels import image_version
from infra.probes import Probes
from infra.security import DEFAULT_UID, container_security_context, pod_security_context
from infra.sizes import Size, requirements

HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
ZONE_TOPOLOGY = "topology.kubernetes.io/zone"

ZoneSpread = Literal["none", "preferred", "required"]

TAKE_BACK_FIELDS = {"pulumi.com/patchForce": "true"}
"""For objects an operator may change by hand (``kubectl scale`` a Deployment): the next ``up``
takes the changed fields back instead of failing on a server-side apply conflict with the other
field manager (seen on a real API server). Only fields the program sets are taken: a count an
autoscaler owns is never set, so it is never fought over."""


def object_meta(
    name: str,
    *,
    namespace: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
) -> meta.ObjectMetaArgs:
    """Metadata with an explicit name, so Pulumi does not add a random suffix."""
    return meta.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(labels),
        annotations=dict(annotations) if annotations else None,
    )


def container(
    name: str,
    *,
    image: str,
    size: Size,
    probes: Probes | None = None,
    ports: Sequence[core.ContainerPortArgs] = (),
    env: Sequence[core.EnvVarArgs] = (),
    env_from: Sequence[core.EnvFromSourceArgs] = (),
    volume_mounts: Sequence[core.VolumeMountArgs] = (),
    command: Sequence[str] | None = None,
    args: Sequence[str] | None = None,
    uid: int = DEFAULT_UID,
) -> core.ContainerArgs:
    """A container with the hardened context, its resources and a pinned image.

    ``probes`` is required of long-running containers and left out for init containers and
    jobs, which run to completion. The image must carry a tag other than ``latest``.
    """
    image_version(image)
    return core.ContainerArgs(
        name=name,
        image=image,
        image_pull_policy="IfNotPresent",
        command=list(command) if command is not None else None,
        args=list(args) if args is not None else None,
        ports=list(ports) or None,
        env=list(env) or None,
        env_from=list(env_from) or None,
        volume_mounts=list(volume_mounts) or None,
        resources=requirements(size),
        security_context=container_security_context(uid),
        liveness_probe=probes.liveness if probes else None,
        readiness_probe=probes.readiness if probes else None,
        startup_probe=probes.startup if probes else None,
    )


def pod_spec(
    *,
    containers: Sequence[core.ContainerArgs],
    service_account_name: str,
    init_containers: Sequence[core.ContainerArgs] = (),
    volumes: Sequence[core.VolumeArgs] = (),
    affinity: core.AffinityArgs | None = None,
    topology_spread_constraints: Sequence[core.TopologySpreadConstraintArgs] = (),
    automount_service_account_token: bool = False,
    uid: int = DEFAULT_UID,
    restart_policy: str | None = None,
    termination_grace_period_seconds: int | None = None,
) -> core.PodSpecArgs:
    """A pod spec with the hardened pod context and no API token unless the pod calls the API.

    Service links are off: the environment gets only what the ConfigMap and Secrets say, not
    one variable per Service in the namespace.
    """
    return core.PodSpecArgs(
        service_account_name=service_account_name,
        automount_service_account_token=automount_service_account_token,
        enable_service_links=False,
        security_context=pod_security_context(uid),
        init_containers=list(init_containers) or None,
        containers=list(containers),
        volumes=list(volumes) or None,
        affinity=affinity,
        topology_spread_constraints=list(topology_spread_constraints) or None,
        restart_policy=restart_policy,
        termination_grace_period_seconds=termination_grace_period_seconds,
    )


def pod_template(
    *,
    labels: Mapping[str, str],
    spec: core.PodSpecArgs,
    annotations: Mapping[str, str] | None = None,
) -> core.PodTemplateSpecArgs:
    """The pod template of a Deployment, StatefulSet or Job."""
    return core.PodTemplateSpecArgs(
        metadata=meta.ObjectMetaArgs(
            labels=dict(labels), annotations=dict(annotations) if annotations else None
        ),
        spec=spec,
    )


HTTP_PORT_NAME = "http"
"""The container port of an HTTP server (the API's, the web UI's)."""
METRICS_PORT_NAME = "metrics"
"""The container port of a process that serves only metrics (the relay, the exporters); the
PodMonitors (``infra/monitoring.py``) scrape ports by these names."""


def scrape_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    """The pod annotations Prometheus' Kubernetes service discovery looks for."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": path,
    }


def anti_affinity(
    selector: Mapping[str, str], *, required: bool, topology_key: str = HOSTNAME_TOPOLOGY
) -> core.AffinityArgs:
    """Spread a workload's replicas over nodes.

    ``required`` refuses to schedule two replicas on one node (quorum systems such as Kafka,
    where losing a node must not lose a majority). Otherwise the scheduler only prefers to
    spread, so a small cluster still runs every replica.
    """
    term = core.PodAffinityTermArgs(
        label_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
        topology_key=topology_key,
    )
    if required:
        return core.AffinityArgs(
            pod_anti_affinity=core.PodAntiAffinityArgs(
                required_during_scheduling_ignored_during_execution=[term]
            )
        )
    return core.AffinityArgs(
        pod_anti_affinity=core.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                core.WeightedPodAffinityTermArgs(weight=100, pod_affinity_term=term)
            ]
        )
    )


def zone_spread(
    selector: Mapping[str, str], spread: ZoneSpread
) -> list[core.TopologySpreadConstraintArgs]:
    """Spread a workload's replicas over availability zones, at most one apart.

    Node anti-affinity keeps replicas off one machine; this keeps them off one zone, so a zone
    outage leaves the rest serving (and a Kafka quorum its majority). ``preferred`` lets the
    scheduler break the spread when a zone is full or the nodes carry no zone label (a
    single-zone or local cluster); ``required`` leaves such pods Pending instead.
    """
    if spread == "none":
        return []
    return [
        core.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=ZONE_TOPOLOGY,
            when_unsatisfiable="DoNotSchedule" if spread == "required" else "ScheduleAnyway",
            label_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
        )
    ]
