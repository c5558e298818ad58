"""The simulated nodes and the default StorageClass: the machines the stacks are scheduled onto.

Six nodes, two per zone, of 8 CPU / 32 GiB each. Prod, the largest stack, requests about 4.5 CPU
and 9 GiB at its minimum replicas and needs three zones (required anti-affinity for Kafka, zone
spreads for the web tier); all three stacks fit at once with room for a rolling update's surge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ZONES = ("zone-a", "zone-b", "zone-c")
NODES_PER_ZONE = 2
NODE_CPU = "8"
NODE_MEMORY = "32Gi"
NODE_PODS = "110"
# KWOK manages the nodes carrying this annotation, and only those (kwok
# --manage-nodes-with-annotation-selector), so it never touches a node it did not simulate.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_SELECTOR = f"{KWOK_ANNOTATION}=fake"
STORAGE_CLASS = "standard"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    zone: str
    ip: str


def node_specs() -> list[NodeSpec]:
    return [
        NodeSpec(f"kwok-{zone}-{index}", zone, f"10.240.{z}.{index}")
        for z, zone in enumerate(ZONES)
        for index in range(1, NODES_PER_ZONE + 1)
    ]


def node(spec: NodeSpec) -> dict[str, Any]:
    """A Node as a kubelet would register it; KWOK's stages then make it Ready."""
    resources = {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": spec.name,
                "topology.kubernetes.io/region": "local",
                "topology.kubernetes.io/zone": spec.zone,
                "type": "kwok",
            },
        },
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": spec.ip},
                {"type": "Hostname", "address": spec.name},
            ],
        },
    }


def storage_class() -> dict[str, Any]:
    """The default class, served by kube-controller-manager's own host-path provisioner
    (--enable-hostpath-provisioner): a claim gets a PersistentVolume of its requested size, which
    the real PV controller binds, and deleting the claim deletes the volume (and its empty folder
    under /tmp/hostpath_pv), so stacks can be deployed and destroyed any number of times."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kubernetes.io/host-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def cluster_objects() -> list[dict[str, Any]]:
    """What ``start`` applies once the API server answers."""
    return [*(node(spec) for spec in node_specs()), storage_class()]
