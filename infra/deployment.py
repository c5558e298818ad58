"""The shared shape of the stateless app workloads (backend, relay, frontend).

Each of them is a Deployment of hardened pods (:mod:`infra.workload`), spread over nodes, with a
PodDisruptionBudget once it runs more than one replica (:mod:`infra.disruption`) and, when it
serves traffic, a ClusterIP Service. What this module decides once for all three:

- ``replicas`` is left out of the Deployment when an autoscaler owns the count; otherwise every
  ``pulumi up`` would reset the count the HPA chose.
- Rolling updates never take a serving pod away before its replacement is ready
  (``maxUnavailable: 0``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import pulumi
import pulumi_kubernetes.apps.v1 as apps
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta
from pydantic import Field, ValidationInfo, field_validator

from infra.component import ComponentArgs
from infra.disruption import disruption_budget
from infra.labels import PinnedImage, image_version, selector_labels, standard_labels
from infra.naming import child_name, require_dns_label
from infra.sizes import Size
from infra.workload import (
    TAKE_BACK_FIELDS,
    ZoneSpread,
    anti_affinity,
    object_meta,
    pod_spec,
    pod_template,
    zone_spread,
)

Spread = Literal["none", "preferred", "required"]


class AppWorkloadArgs(ComponentArgs):
    """What every app Deployment takes; component args add what is their own."""

    image: PinnedImage = Field(description="Container image, pinned to a tag other than `latest`.")
    replicas: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Pod count; when `autoscaled`, the autoscaler's minimum (used for the PDB).",
    )
    autoscaled: bool = Field(
        default=False,
        description="An HPA owns the pod count: the Deployment leaves `replicas` unset so "
        "`pulumi up` does not fight the autoscaler.",
    )
    size: Size = Field(default="small", description="Resource preset or explicit requests/limits.")
    service_account_name: str = Field(
        description="ServiceAccount the pods run as (its token is not mounted)."
    )
    spread: Spread = Field(
        default="preferred",
        description="Pod anti-affinity over nodes: `preferred` spreads when it can, `required` "
        "refuses two replicas on one node, `none` lets the scheduler pack them.",
    )
    zones: ZoneSpread = Field(
        default="none",
        description="Spread over availability zones (`topology.kubernetes.io/zone`): "
        "`preferred` when it can, `required` or not at all (`none`).",
    )
    min_available: int | None = Field(
        default=None,
        ge=1,
        description="PDB minAvailable; default all replicas but one. No PDB for one replica.",
    )

    @field_validator("service_account_name")
    @classmethod
    def _account_dns_label(cls, value: str, info: ValidationInfo) -> str:
        return require_dns_label(value, field=info.field_name or "name")


class AppLabels:
    """Names and labels of one app workload, derived once from its instance and role."""

    def __init__(self, args: AppWorkloadArgs, *, app: str, component: str) -> None:
        self.name = child_name(args.instance, component)
        self.selector = selector_labels(app, args.instance, component)
        self.labels = standard_labels(app, args.instance, component, image_version(args.image))

    def metadata(self, namespace: str, *, role: str = "") -> meta.ObjectMetaArgs:
        """Metadata of the workload's object ``role`` (``""`` for the Deployment itself)."""
        return object_meta(
            child_name(self.name, role) if role else self.name,
            namespace=namespace,
            labels=self.labels,
            annotations=None if role else TAKE_BACK_FIELDS,
        )


def spread_affinity(spread: Spread, selector: Mapping[str, str]) -> core.AffinityArgs | None:
    """The pod anti-affinity a ``spread`` setting asks for."""
    if spread == "none":
        return None
    return anti_affinity(selector, required=spread == "required")


def app_workload(
    name: str,
    *,
    args: AppWorkloadArgs,
    names: AppLabels,
    containers: Sequence[core.ContainerArgs],
    init_containers: Sequence[core.ContainerArgs] = (),
    volumes: Sequence[core.VolumeArgs] = (),
    pod_annotations: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions,
) -> apps.Deployment:
    """The Deployment ``{name}-deployment`` of hardened pods running as the workload's account,
    spread as ``args.spread`` asks, and its PodDisruptionBudget ``{name}-pdb`` when it runs more
    than one replica."""
    spec = pod_spec(
        containers=containers,
        init_containers=init_containers,
        service_account_name=args.service_account_name,
        volumes=volumes,
        affinity=spread_affinity(args.spread, names.selector),
        topology_spread_constraints=zone_spread(names.selector, args.zones),
    )
    deployment = apps.Deployment(
        f"{name}-deployment",
        metadata=names.metadata(args.namespace),
        spec=apps.DeploymentSpecArgs(
            replicas=None if args.autoscaled else args.replicas,
            revision_history_limit=5,
            selector=meta.LabelSelectorArgs(match_labels=names.selector),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=apps.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge="25%"),
            ),
            template=pod_template(labels=names.labels, spec=spec, annotations=pod_annotations),
        ),
        opts=opts,
    )
    disruption_budget(
        f"{name}-pdb",
        metadata=names.metadata(args.namespace),
        selector=names.selector,
        replicas=args.replicas,
        min_available=args.min_available,
        opts=opts,
    )
    return deployment


class ServedApp(pulumi.ComponentResource):
    """An app Deployment behind a ClusterIP Service (the API, the frontend); the Deployment's
    and the Service's names are its outputs."""

    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    service: core.Service
    """What routes to the app (the Ingress) depends on."""
    selector: dict[str, str]

    def _serve(
        self,
        name: str,
        *,
        args: AppWorkloadArgs,
        names: AppLabels,
        deployment: apps.Deployment,
        service_port: int,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """The Service ``{name}-service`` in front of ``deployment`` (from :func:`app_workload`),
        named like it, forwarding ``service_port`` to its pods' container port named ``http``;
        then the outputs: the component's last step."""
        service = core.Service(
            f"{name}-service",
            metadata=names.metadata(args.namespace),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=names.selector,
                ports=[
                    core.ServicePortArgs(
                        name="http", port=service_port, target_port="http", protocol="TCP"
                    )
                ],
            ),
            opts=opts,
        )
        self.deployment_name = deployment.metadata.apply(lambda m: m.name or "")
        self.service_name = service.metadata.apply(lambda m: m.name or "")
        self.service = service
        self.selector = names.selector
        self.register_outputs(
            {"deployment_name": self.deployment_name, "service_name": self.service_name}
        )
