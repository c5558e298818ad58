"""The default StorageClass per cloud, as data: one table instead of a branch in each component.

Each class binds a volume only when its pod is scheduled (``WaitForFirstConsumer``), so a
StatefulSet's disk is made in the zone of the node that runs it; zonal disks made up front
strand pods whose zone has no room. The reclaim policy is ``Delete``, like the clouds' own
classes: a volume outlives its pod, and goes only with its claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes.meta.v1 as meta

from infra.labels import MANAGED_BY, PART_OF

Cloud = Literal["eks", "gke", "aks"]

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class StorageClassSpec:
    """What differs between clouds: the CSI driver and its disk parameters."""

    name: str
    provisioner: str
    parameters: dict[str, str] = field(default_factory=dict)


STORAGE_CLASSES: dict[Cloud, StorageClassSpec] = {
    # gp3: 3000 IOPS and 125 MiB/s baseline regardless of size, cheaper than gp2 per GiB.
    "eks": StorageClassSpec(
        name="gp3",
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
    ),
    # pd-ssd: PostgreSQL and Kafka are latency bound; pd-balanced is the cheaper fallback.
    "gke": StorageClassSpec(
        name="pd-ssd",
        provisioner="pd.csi.storage.gke.io",
        parameters={"type": "pd-ssd"},
    ),
    # Premium SSD (LRS), as AKS's own "managed-premium"; a name of our own, since AKS's addon
    # manager owns and reconciles the built-in one.
    "aks": StorageClassSpec(
        name="todo-managed-premium",
        provisioner="disk.csi.azure.com",
        parameters={"skuName": "Premium_LRS", "kind": "Managed", "cachingMode": "ReadOnly"},
    ),
}


def default_storage_class(
    name: str,
    cloud: Cloud,
    *,
    provider: k8s.Provider,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
) -> k8s.storage.v1.StorageClass:
    """The cloud's class, marked default so claims without a class (the charts') get it."""
    spec = STORAGE_CLASSES[cloud]
    return k8s.storage.v1.StorageClass(
        name,
        metadata=meta.ObjectMetaArgs(
            name=spec.name,
            annotations={DEFAULT_CLASS_ANNOTATION: "true"},
            labels={
                "app.kubernetes.io/part-of": PART_OF,
                "app.kubernetes.io/managed-by": MANAGED_BY,
            },
        ),
        provisioner=spec.provisioner,
        parameters=spec.parameters,
        reclaim_policy="Delete",
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on),
    )
