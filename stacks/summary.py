"""What a rendered stack adds up to: objects per kind and the requests its pods reserve.

``todo-infra render`` prints it so a reviewer sees the cost of a change next to the manifests,
and the stack tests hold the dev profile to its laptop budget with the same arithmetic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

Manifest = Mapping[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")

_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0 * 1024}


def cpu_millis(quantity: str) -> int:
    """A CPU quantity (``250m``, ``1``, ``0.5``) in millicores."""
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def memory_mebibytes(quantity: str) -> int:
    """A memory quantity (``512Mi``, ``1Gi``, bytes) in MiB."""
    for suffix, factor in _MEMORY_UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity) // (1024 * 1024)


def pod_template(workload: Manifest) -> Mapping[str, Any]:
    """A workload's pod template; a CronJob's is in its Job template."""
    spec = workload["spec"]
    template: Mapping[str, Any] = (
        spec["jobTemplate"]["spec"]["template"]
        if workload["kind"] == "CronJob"
        else spec["template"]
    )
    return template


def pod_requests(workload: Manifest) -> tuple[int, int]:
    """What the scheduler reserves for one pod (CPU millicores, memory MiB).

    That is the larger of the biggest init container and the sum of the long-running ones,
    plus the Dapr sidecar the injector adds (sized by the pod's annotations).
    """
    template = pod_template(workload)
    spec = template["spec"]

    def total(items: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        requests = [c["resources"]["requests"] for c in items]
        return (
            sum(cpu_millis(r["cpu"]) for r in requests),
            sum(memory_mebibytes(r["memory"]) for r in requests),
        )

    main_cpu, main_memory = total(spec["containers"])
    annotations = template.get("metadata", {}).get("annotations", {})
    if annotations.get("dapr.io/enabled") == "true":
        main_cpu += cpu_millis(annotations["dapr.io/sidecar-cpu-request"])
        main_memory += memory_mebibytes(annotations["dapr.io/sidecar-memory-request"])
    inits = [total([c]) for c in spec.get("initContainers", [])]
    return (
        max([main_cpu, *(cpu for cpu, _ in inits)]),
        max([main_memory, *(memory for _, memory in inits)]),
    )


def min_replicas(workload: Manifest, manifests: Iterable[Manifest]) -> int:
    """The fewest pods a workload runs: its replicas, or its autoscaler's minimum."""
    if workload["kind"] in {"Job", "CronJob"}:
        return 1
    for hpa in manifests:
        if hpa["kind"] != "HorizontalPodAutoscaler":
            continue
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) == (workload["kind"], workload["metadata"]["name"]):
            return int(hpa["spec"]["minReplicas"])
    return int(workload["spec"].get("replicas", 1))


def total_requests(manifests: Iterable[Manifest]) -> tuple[int, int]:
    """CPU millicores and memory MiB requested by every pod at its minimum replica count."""
    objects = list(manifests)
    cpu = memory = 0
    for workload in objects:
        if workload["kind"] not in WORKLOAD_KINDS:
            continue
        pod_cpu, pod_memory = pod_requests(workload)
        count = min_replicas(workload, objects)
        cpu += pod_cpu * count
        memory += pod_memory * count
    return cpu, memory


def summary(manifests: Iterable[Manifest]) -> str:
    """Two lines: objects per kind, and the requests at the minimum replica counts."""
    objects = list(manifests)
    kinds = Counter(str(m["kind"]) for m in objects)
    cpu, memory = total_requests(objects)
    by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    return (
        f"objects: {by_kind}\n"
        f"requests at minimum replicas (with Dapr sidecars and Jobs): "
        f"{cpu}m CPU, {memory}Mi memory"
    )
