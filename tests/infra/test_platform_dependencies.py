"""Objects that use other objects by name depend on them as resources (issue 17).

Pods name their ServiceAccount, Secret and ConfigMap, and the Ingress names its Services, as
plain strings. The API server accepts such an object before what it names exists, then its
controllers warn (``error looking up service account``, ``No matching service found for
ingress rule``); and the engine, seeing no edge, deleted the account before the StatefulSet.
These tests read the *direct* dependencies each registration carries to the engine.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.render import Registration, Rendered, plain
from tests.infra.manifests import STACKS, WORKLOAD_KINDS, pod_spec


def _by_object(rendered: Rendered) -> dict[tuple[str, str], Registration]:
    """Each Kubernetes object's registration, by (kind, metadata.name)."""
    return {
        (r.inputs["kind"], r.inputs["metadata"]["name"]): r
        for r in rendered.registrations
        if r.type.startswith("kubernetes:") and "kind" in r.inputs
    }


def _named_in_pod(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """The (kind, name) of every object a pod spec refers to by name."""
    used = {("ServiceAccount", spec["serviceAccountName"])}
    containers = [*spec.get("initContainers", []), *spec["containers"]]
    for container in containers:
        for source in container.get("envFrom", []):
            for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if field in source:
                    used.add((kind, source[field]["name"]))
        for env in container.get("env", []):
            ref = env.get("valueFrom", {})
            for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if field in ref:
                    used.add((kind, ref[field]["name"]))
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            used.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            used.add(("ConfigMap", volume["configMap"]["name"]))
        if "persistentVolumeClaim" in volume:
            used.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
    return used


@pytest.mark.parametrize("stack", STACKS)
def test_workloads_depend_on_what_their_pods_name(stacks: dict[str, Rendered], stack: str) -> None:
    objects = _by_object(stacks[stack])
    checked = 0
    for (kind, name), registration in objects.items():
        if kind not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(plain(registration.inputs))
        for used in _named_in_pod(spec):
            assert used in objects, f"{kind} {name} names {used}, which the stack does not make"
            assert objects[used].name in registration.dependencies, (
                f"{kind} {name} names {used[0]} {used[1]} but does not depend on it"
            )
            checked += 1
    assert checked >= 8  # one ServiceAccount per workload at least


@pytest.mark.parametrize("stack", STACKS)
def test_ingress_depends_on_the_services_it_routes_to(
    stacks: dict[str, Rendered], stack: str
) -> None:
    objects = _by_object(stacks[stack])
    ((_, ingress),) = [(k, r) for k, r in objects.items() if k[0] == "Ingress"]
    services = {
        path["backend"]["service"]["name"]
        for rule in plain(ingress.inputs)["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert services == {"todo-backend", "todo-frontend"}
    for service in services:
        assert objects[("Service", service)].name in ingress.dependencies, service
