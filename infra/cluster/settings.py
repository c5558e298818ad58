"""Typed, validated settings for the cluster a stack runs on: none (bring your own) or one cloud.

``provider`` is the discriminator: a stack file says ``provider: eks`` and only the EKS block's
fields are accepted; a GKE field in an EKS block fails, naming the field. Keys are camelCase in
stack files, like every setting. Every exposure choice is explicit: a public API endpoint exists
only when ``apiPublicCidrs`` lists who may reach it, so nothing is public that the stack file
didn't ask for.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.component import SettingsModel

_LABEL_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


class NodePool(SettingsModel):
    """One autoscaling pool of worker nodes; the autoscaler moves between ``min`` and ``max``."""

    instance_type: str = Field(
        min_length=1,
        description="Machine type (EC2 instance type, GCE machine type or Azure VM size).",
    )
    min: int = Field(ge=0, le=1000, description="Fewest nodes the autoscaler keeps.")
    max: int = Field(ge=1, le=1000, description="Most nodes the autoscaler may add.")
    disk_gb: int = Field(
        default=50, ge=20, le=4096, description="OS disk per node; 50 GiB holds images and logs."
    )

    @model_validator(mode="after")
    def _bounds(self) -> NodePool:
        if self.min > self.max:
            raise ValueError(f"nodePool min={self.min} is greater than max={self.max}")
        return self


def _cidr(value: str, field: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(f"{field}={value!r} is not a CIDR block: {error}") from None


def _cidrs(values: tuple[str, ...], field: str) -> tuple[str, ...]:
    return tuple(_cidr(value, field) for value in values)


def _disjoint(blocks: dict[str, str]) -> None:
    """Fail when two of the named CIDR blocks overlap: routing would be ambiguous."""
    items = [(name, ipaddress.ip_network(cidr)) for name, cidr in blocks.items()]
    for index, (name, net) in enumerate(items):
        for other_name, other in items[index + 1 :]:
            if net.overlaps(other):
                raise ValueError(f"{name}={net} overlaps {other_name}={other}")


def _camel_cidr(value: str, info: ValidationInfo) -> str:
    return _cidr(value, to_camel(info.field_name or "cidr"))


def _api_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    return _cidrs(values, "apiPublicCidrs")


Cidr = Annotated[str, AfterValidator(_camel_cidr)]
"""A CIDR block; a bad one fails naming the field as the stack file spells it."""
ApiPublicCidrs = Annotated[tuple[str, ...], AfterValidator(_api_cidrs)]
"""Who may reach a cluster's API server: CIDR blocks, checked one by one."""


class RegistrySettings(SettingsModel):
    """An image registry made with the cluster, to push the app image to; the nodes may pull
    from it and from nothing else the stack grants."""

    enabled: bool = Field(
        default=False,
        description="Create it (EKS: an ECR repository, GKE: an Artifact Registry repository, "
        "AKS: a container registry) and let the nodes pull from it; the stack output "
        "`registry` is where to push (docs/images.md).",
    )
    name: str = Field(
        default="todo-api",
        pattern=r"^[a-z][a-z0-9-]{1,48}[a-z0-9]$",
        description="Repository name (ECR, Artifact Registry); on AKS the registry's name, "
        "5-50 letters and digits, unique across Azure (it becomes `<name>.azurecr.io`).",
    )


class NoCluster(SettingsModel):
    """Deploy onto a cluster that already exists: the ambient kube context or a kubeconfig."""

    provider: Literal["none"] = "none"
    kubeconfig: str | None = Field(
        default=None,
        description="Path to a kubeconfig; unset uses the ambient one ($KUBECONFIG or ~/.kube).",
    )
    context: str | None = Field(
        default=None, description="Context in that kubeconfig; unset uses its current context."
    )


class EksSettings(SettingsModel):
    """An EKS cluster in its own VPC across three availability zones."""

    provider: Literal["eks"]
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region.")
    version: str = Field(
        default="1.33", pattern=r"^1\.\d{2}$", description="Kubernetes minor version."
    )
    node_pool: NodePool = Field(
        default=NodePool(instance_type="m6i.xlarge", min=3, max=6),
        description="The managed node group; 3 x m6i.xlarge (4 vCPU, 16 GiB) hold the prod "
        "profile, whose Kafka needs three nodes (required anti-affinity).",
    )
    vpc_cidr: str = Field(default="10.40.0.0/16", description="The VPC's address block.")
    api_public_cidrs: ApiPublicCidrs = Field(
        default=(),
        description="Who may reach the public API endpoint; empty keeps the endpoint private.",
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        default="ON_DEMAND", description="SPOT is cheaper but nodes may be reclaimed."
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings,
        description="An image registry for the app image, off by default.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every AWS resource.")

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        cidr = _cidr(value, "vpcCidr")
        if ipaddress.ip_network(cidr).prefixlen > 20:
            raise ValueError(f"vpcCidr={value!r} is too small: use a /20 or larger")
        return cidr


class GkeSettings(SettingsModel):
    """A VPC-native GKE cluster with private nodes and workload identity."""

    provider: Literal["gke"]
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="GCP project id.")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d$", description="GCP region (regional cluster).")
    version: str | None = Field(
        default=None,
        pattern=r"^1\.\d{2}$",
        description="Minimum master version; unset lets the release channel choose.",
    )
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "UNSPECIFIED"] = Field(
        default="REGULAR", description="REGULAR balances new features and soak time."
    )
    node_pool: NodePool = Field(
        default=NodePool(instance_type="e2-standard-4", min=1, max=3),
        description="Per zone: a regional pool spans three zones, so min=1 means three nodes.",
    )
    subnet_cidr: Cidr = Field(default="10.50.0.0/20", description="Primary range: the nodes.")
    pods_cidr: Cidr = Field(default="10.52.0.0/14", description="Secondary range for pods.")
    services_cidr: Cidr = Field(default="10.56.0.0/20", description="Secondary range for Services.")
    master_cidr: Cidr = Field(
        default="172.16.0.0/28", description="The /28 Google peers for the control plane."
    )
    api_public_cidrs: ApiPublicCidrs = Field(
        default=(),
        description="Who may reach the public API endpoint; empty keeps the endpoint private.",
    )
    spot: bool = Field(default=False, description="Spot VMs are cheaper but may be reclaimed.")
    deletion_protection: bool = Field(
        default=True, description="GKE refuses to delete the cluster until this is turned off."
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings,
        description="An image registry for the app image, off by default.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels on GCP resources.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, values: dict[str, str]) -> dict[str, str]:
        for key, value in values.items():
            if not key or not set(key) <= _LABEL_KEY_CHARS or not set(value) <= _LABEL_KEY_CHARS:
                raise ValueError(
                    f"labels[{key!r}]={value!r}: GCP labels use lower-case letters, digits, "
                    "'-' and '_'"
                )
        return values

    @model_validator(mode="after")
    def _ranges(self) -> GkeSettings:
        if ipaddress.ip_network(self.master_cidr).prefixlen != 28:
            raise ValueError(f"masterCidr={self.master_cidr!r} must be a /28")
        _disjoint(
            {
                "subnetCidr": self.subnet_cidr,
                "podsCidr": self.pods_cidr,
                "servicesCidr": self.services_cidr,
                "masterCidr": self.master_cidr,
            }
        )
        return self


class AksSettings(SettingsModel):
    """An AKS cluster with a system pool and an autoscaling user pool."""

    provider: Literal["aks"]
    location: str = Field(pattern=r"^[a-z0-9]+$", description="Azure region, e.g. westeurope.")
    version: str | None = Field(
        default=None,
        pattern=r"^1\.\d{2}(\.\d+)?$",
        description="Kubernetes version; unset takes AKS's default.",
    )
    system_pool: NodePool = Field(
        default=NodePool(instance_type="Standard_D2s_v5", min=1, max=3),
        description="Runs cluster add-ons only (CriticalAddonsOnly taint).",
    )
    user_pool: NodePool = Field(
        default=NodePool(instance_type="Standard_D4s_v5", min=3, max=6),
        description="Runs the application; three nodes for prod's three Kafka brokers.",
    )
    zones: tuple[Literal["1", "2", "3"], ...] = Field(
        default=("1", "2", "3"),
        description="Availability zones of both pools; empty for a region without zones.",
    )
    network_plugin: Literal["azure-overlay", "azure-cni"] = Field(
        default="azure-overlay",
        description="Overlay gives pods a private range and spares VNet addresses.",
    )
    pod_cidr: Cidr = Field(default="10.244.0.0/16", description="Pod range (overlay only).")
    service_cidr: Cidr = Field(default="10.0.0.0/16", description="Service range.")
    dns_service_ip: str = Field(default="10.0.0.10", description="In service_cidr.")
    api_public_cidrs: ApiPublicCidrs = Field(
        default=(),
        description="Who may reach the API server; empty makes a private cluster.",
    )
    tier: Literal["Free", "Standard"] = Field(
        default="Standard", description="Standard carries the API server uptime SLA."
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings,
        description="An image registry for the app image, off by default.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on Azure resources.")

    @model_validator(mode="after")
    def _ranges(self) -> AksSettings:
        if ipaddress.ip_address(self.dns_service_ip) not in ipaddress.ip_network(self.service_cidr):
            raise ValueError(
                f"dnsServiceIp={self.dns_service_ip!r} is not in serviceCidr={self.service_cidr!r}"
            )
        if self.network_plugin == "azure-overlay":
            _disjoint({"podCidr": self.pod_cidr, "serviceCidr": self.service_cidr})
        name = self.registry.name
        if self.registry.enabled and not re.fullmatch(r"[a-z0-9]{5,50}", name):
            raise ValueError(
                f"registry.name={name!r} cannot name an Azure container registry: use 5-50 "
                "lower-case letters and digits, unique across Azure"
            )
        return self


PROVIDERS = ("none", "eks", "gke", "aks")


def _provider(value: object) -> str:
    """The block's ``provider``; a block without one means an existing cluster."""
    if isinstance(value, dict):
        return str(value.get("provider", "none"))
    return str(getattr(value, "provider", "none"))


ClusterSettings = Annotated[
    Annotated[NoCluster, Tag("none")]
    | Annotated[EksSettings, Tag("eks")]
    | Annotated[GkeSettings, Tag("gke")]
    | Annotated[AksSettings, Tag("aks")],
    Discriminator(
        _provider,
        custom_error_type="invalid_provider",
        custom_error_message=f"provider must be one of {', '.join(PROVIDERS)}",
    ),
]
"""The ``cluster`` block of a stack: which cluster, selected by ``provider`` (default none)."""
