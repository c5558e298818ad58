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
from stacks.summary import WORKLOAD_KINDS

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")

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
