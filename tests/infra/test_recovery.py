"""``up --recover``'s state edit: pending creates adopted, dropped, or refused by URN.

The end-to-end case (a real ``up`` killed on the local control plane) is
``tests/deploy/test_interrupted.py``; these pin each rule of :func:`stacks.recovery.adopt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from stacks.recovery import FIELD_MANAGER_KEY, LiveLookup, ObjectRef, RecoveryError, adopt

STACK_URN = "urn:pulumi:dev::todo-evolution::pulumi:pulumi:Stack::todo-evolution-dev"
CONFIG_MAP_URN = "urn:pulumi:dev::todo-evolution::kubernetes:core/v1:ConfigMap::todo-settings"
NAMESPACE_URN = "urn:pulumi:dev::todo-evolution::kubernetes:core/v1:Namespace::todo-namespace"


def _pending(urn: str, kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    resource = {"urn": urn, "custom": True, "type": kind, "inputs": inputs, "parent": STACK_URN}
    return {"resource": resource, "type": "creating"}


def _object(api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


CONFIG_MAP = _pending(
    CONFIG_MAP_URN, "kubernetes:core/v1:ConfigMap", _object("v1", "ConfigMap", "todo", "todo-dev")
)
NAMESPACE = _pending(
    NAMESPACE_URN, "kubernetes:core/v1:Namespace", _object("v1", "Namespace", "todo-dev", None)
)


def _state(*pending: dict[str, Any]) -> dict[str, Any]:
    return {
        "resources": [{"urn": STACK_URN, "type": "pulumi:pulumi:Stack"}],
        "pending_operations": list(pending),
    }


def _cluster(*objects: dict[str, Any]) -> LiveLookup:
    def lookup(refs: Sequence[ObjectRef]) -> list[dict[str, Any]]:
        return [obj for obj in objects if any(ref.matches(obj) for ref in refs)]

    return lookup


def _with_managers(obj: dict[str, Any], *managers: tuple[str, str]) -> dict[str, Any]:
    fields = [{"manager": name, "operation": operation} for name, operation in managers]
    return {**obj, "metadata": {**obj["metadata"], "managedFields": fields}}


def test_an_existing_object_is_adopted_with_its_id_and_field_manager() -> None:
    live = _with_managers(
        _object("v1", "ConfigMap", "todo", "todo-dev"),
        ("pulumi-kubernetes-1a2b3c", "Apply"),
        ("kube-controller-manager", "Update"),
    )
    state, result = adopt(_state(CONFIG_MAP, NAMESPACE), _cluster(live))
    assert result.adopted == [CONFIG_MAP_URN]
    assert result.dropped == [NAMESPACE_URN]
    assert state["pending_operations"] == []
    adopted = state["resources"][-1]
    assert adopted["urn"] == CONFIG_MAP_URN
    assert adopted["id"] == "todo-dev/todo"
    assert adopted["outputs"] == {FIELD_MANAGER_KEY: "pulumi-kubernetes-1a2b3c"}
    assert adopted["parent"] == STACK_URN


def test_a_cluster_scoped_object_has_its_name_as_id() -> None:
    state, result = adopt(_state(NAMESPACE), _cluster(_object("v1", "Namespace", "todo-dev", None)))
    assert result.adopted == [NAMESPACE_URN]
    assert state["resources"][-1]["id"] == "todo-dev"


def test_an_object_of_another_group_or_namespace_is_not_taken_for_it() -> None:
    others = (
        _object("example.com/v1", "ConfigMap", "todo", "todo-dev"),
        _object("v1", "ConfigMap", "todo", "elsewhere"),
    )
    _, result = adopt(_state(CONFIG_MAP), _cluster(*others))
    assert result.dropped == [CONFIG_MAP_URN]


def test_no_field_manager_is_recorded_unless_exactly_one_is_the_providers() -> None:
    live = _with_managers(
        _object("v1", "ConfigMap", "todo", "todo-dev"),
        ("pulumi-kubernetes-1", "Apply"),
        ("pulumi-kubernetes-2", "Apply"),
    )
    state, _ = adopt(_state(CONFIG_MAP), _cluster(live))
    assert state["resources"][-1]["outputs"] == {}


def test_other_pending_operations_are_left_for_the_refresh() -> None:
    updating = {**CONFIG_MAP, "type": "updating"}
    state, result = adopt(_state(updating), _cluster())
    assert state["pending_operations"] == [updating]
    assert result.adopted == result.dropped == []


def test_a_pending_provider_is_dropped_without_asking_the_cluster() -> None:
    provider = _pending(
        "urn:pulumi:dev::p::pulumi:providers:kubernetes::k8s", "pulumi:providers:kubernetes", {}
    )

    def lookup(refs: Sequence[ObjectRef]) -> list[dict[str, Any]]:
        raise AssertionError(f"asked the cluster for {refs}")

    state, result = adopt(_state(provider), lookup)
    assert result.dropped == ["urn:pulumi:dev::p::pulumi:providers:kubernetes::k8s"]
    assert state["pending_operations"] == []


def test_a_pending_create_that_is_no_kubernetes_object_is_refused_by_urn() -> None:
    cluster = _pending(
        "urn:pulumi:dev::p::aws:eks/cluster:Cluster::eks", "aws:eks/cluster:Cluster", {}
    )
    release = _pending(
        "urn:pulumi:dev::p::kubernetes:helm.sh/v3:Release::dapr",
        "kubernetes:helm.sh/v3:Release",
        {"chart": "dapr"},
    )
    with pytest.raises(RecoveryError, match=r"Cluster::eks, .*Release::dapr$"):
        adopt(_state(cluster, release, CONFIG_MAP), _cluster())


def test_a_pending_component_is_kept_before_its_recorded_children() -> None:
    component_urn = "urn:pulumi:dev::todo-evolution::todo:infra:Postgres::todo-postgres"
    component = _pending(component_urn, "todo:infra:Postgres", {})
    component["resource"]["custom"] = False
    child = {"urn": CONFIG_MAP_URN, "type": "kubernetes:core/v1:ConfigMap", "parent": component_urn}
    state = _state(component)
    state["resources"].append(child)
    adopted, result = adopt(state, _cluster())
    assert result.adopted == [component_urn]
    assert [r["urn"] for r in adopted["resources"]] == [STACK_URN, component_urn, CONFIG_MAP_URN]


def test_adopted_objects_come_after_their_provider_and_dependencies() -> None:
    provider_urn = "urn:pulumi:dev::todo-evolution::pulumi:providers:kubernetes::k8s"
    pending = _pending(
        NAMESPACE_URN, "kubernetes:core/v1:Namespace", _object("v1", "Namespace", "todo-dev", None)
    )
    pending["resource"]["provider"] = f"{provider_urn}::0c7f"
    pending["resource"]["dependencies"] = [CONFIG_MAP_URN]
    state = _state(pending)
    state["resources"] += [{"urn": CONFIG_MAP_URN}, {"urn": provider_urn}]
    adopted, _ = adopt(state, _cluster(_object("v1", "Namespace", "todo-dev", None)))
    order = [r["urn"] for r in adopted["resources"]]
    assert order == [STACK_URN, CONFIG_MAP_URN, provider_urn, NAMESPACE_URN]
