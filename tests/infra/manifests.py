"""Helpers to run stacks under mocks and read the Kubernetes objects they would create."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stacks.render import (
    Rendered,
    plain,
    record,
    run_stack,
    stack_file_settings,
    with_placeholders,
)

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

Manifest = dict[str, Any]


def render(stack: str, **overrides: object) -> Rendered:
    """The program's run for ``Pulumi.<stack>.yaml`` plus ``overrides`` (top-level keys)."""
    settings, secret_keys = stack_file_settings(REPO / f"Pulumi.{stack}.yaml")
    for key, value in overrides.items():
        settings[key] = value if isinstance(value, str) else json.dumps(value)
    return run_stack(stack, *with_placeholders(settings, secret_keys))


def build(component: Callable[[], object]) -> list[Manifest]:
    """The Kubernetes objects ``component`` registers under mocks, unredacted."""
    _, registrations = record(component)
    return [
        plain(r.inputs)
        for r in registrations
        if r.type.startswith("kubernetes:") and "kind" in r.inputs
    ]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container of a workload's pod, init containers included, as (kind, container)."""
    spec = pod_spec(workload)
    for container in spec.get("initContainers", []):
        yield "init", container
    for container in spec["containers"]:
        yield "main", container


def cpu_millis(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def memory_mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024, "Ki": 1 / 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity) // (1024 * 1024)


def pod_requests(workload: Manifest) -> tuple[int, int]:
    """What the scheduler reserves for one pod (CPU millicores, memory MiB).

    That is the larger of the biggest init container and the sum of the long-running ones,
    plus the Dapr sidecar the injector adds (sized by the pod's annotations).
    """
    spec = pod_spec(workload)

    def total(items: list[dict[str, Any]]) -> tuple[int, int]:
        cpu = sum(cpu_millis(c["resources"]["requests"]["cpu"]) for c in items)
        memory = sum(memory_mebibytes(c["resources"]["requests"]["memory"]) for c in items)
        return cpu, memory

    main_cpu, main_memory = total(spec["containers"])
    annotations = workload["spec"]["template"].get("metadata", {}).get("annotations", {})
    if annotations.get("dapr.io/enabled") == "true":
        main_cpu += cpu_millis(annotations["dapr.io/sidecar-cpu-request"])
        main_memory += memory_mebibytes(annotations["dapr.io/sidecar-memory-request"])
    inits = [total([c]) for c in spec.get("initContainers", [])]
    return (
        max([main_cpu, *(cpu for cpu, _ in inits)]),
        max([main_memory, *(memory for _, memory in inits)]),
    )


def replicas(workload: Manifest, manifests: list[Manifest]) -> int:
    """The fewest pods a workload runs: its replicas, or its autoscaler's minimum."""
    if workload["kind"] == "Job":
        return 1
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) == (workload["kind"], workload["metadata"]["name"]):
            return int(hpa["spec"]["minReplicas"])
    return int(workload["spec"].get("replicas", 1))


def total_requests(manifests: list[Manifest]) -> tuple[int, int]:
    """CPU millicores and memory MiB requested by every pod at its minimum replica count."""
    cpu = memory = 0
    for workload in workloads(manifests):
        pod_cpu, pod_memory = pod_requests(workload)
        count = replicas(workload, manifests)
        cpu += pod_cpu * count
        memory += pod_memory * count
    return cpu, memory
