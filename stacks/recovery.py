"""Adopt what a killed ``up`` created: its pending creates become managed resources.

An ``up`` killed outright leaves, for every object whose create it had started, a pending
``creating`` operation in the state, and the object itself in the cluster. Dropping the
operation (``pulumi refresh --clear-pending-creates``) makes the next ``up`` create the object
again, which the API server refuses: it exists, applied by another field manager.

So the recovery adopts them: each pending create of a Kubernetes object that exists is moved
into the state's resources with the object's id (``namespace/name``) and the Server-Side Apply
field manager that created it (the provider chose a random one and died before recording it),
and the refresh that follows reads the objects in full. Later ``up``s then apply as the manager
that owns the fields, so they neither conflict nor leave fields owned by a dead manager. A
pending create whose object does not exist was never made and is dropped; a pending create of a
provider (engine-internal, creates nothing outside) likewise; a pending component (nothing
outside the state) is kept as a resource, since its children may be recorded already. Anything
else (a cloud resource, a Helm release) is refused with its URN, so nothing is silently
forgotten. The resources are then put back in dependency order.

This is what ``pulumi refresh --import-pending-creates URN ID`` is for, but the engine's own
route needs each id by hand, is not exposed by the Python Automation API, and would record a
new random field manager: the next change to a field would conflict with the dead one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacks.preflight import run_kubectl

CREATING = "creating"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
KUBERNETES_TYPE_PREFIX = "kubernetes:"
PULUMI_MANAGER_PREFIX = "pulumi-kubernetes"
"""The provider names its Server-Side Apply field managers ``pulumi-kubernetes-<random>``."""
FIELD_MANAGER_KEY = "__fieldManager"
"""Where the provider keeps a resource's field manager in its state (its outputs)."""


class RecoveryError(RuntimeError):
    """A pending create that cannot be adopted or dropped safely, in one line."""


@dataclass(frozen=True)
class ObjectRef:
    """Which Kubernetes object a pending create was making."""

    api_version: str
    kind: str
    name: str
    namespace: str | None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def manifest(self) -> dict[str, Any]:
        metadata = {"name": self.name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata}

    def matches(self, live: Mapping[str, Any]) -> bool:
        metadata = live.get("metadata") or {}
        return (
            str(live.get("apiVersion", "")).rpartition("/")[0] == self.group
            and live.get("kind") == self.kind
            and metadata.get("name") == self.name
            and (self.namespace is None or metadata.get("namespace") == self.namespace)
        )


LiveLookup = Callable[[Sequence[ObjectRef]], list[dict[str, Any]]]
"""The live objects among these references (absent ones are left out)."""


@dataclass
class Adoption:
    """What :func:`adopt` did to the state, by URN."""

    adopted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def object_ref(resource: Mapping[str, Any]) -> ObjectRef | None:
    """The object a pending create of ``resource`` was making, if it is a plain Kubernetes
    object (a Helm release or a cloud resource is not)."""
    if not str(resource.get("type", "")).startswith(KUBERNETES_TYPE_PREFIX):
        return None
    inputs = resource.get("inputs") or {}
    metadata = inputs.get("metadata")
    api_version, kind = inputs.get("apiVersion"), inputs.get("kind")
    if not (isinstance(metadata, dict) and isinstance(api_version, str) and isinstance(kind, str)):
        return None
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not (namespace is None or isinstance(namespace, str)):
        return None  # e.g. a name only known to the engine, or encrypted
    return ObjectRef(api_version, kind, name, namespace or None)


def applying_manager(live: Mapping[str, Any]) -> str | None:
    """The provider's Server-Side Apply field manager of a live object, when it has exactly one."""
    managers = {
        entry.get("manager", "")
        for entry in (live.get("metadata") or {}).get("managedFields") or []
        if entry.get("operation") == "Apply"
    }
    ours = [m for m in managers if m.startswith(PULUMI_MANAGER_PREFIX)]
    return ours[0] if len(ours) == 1 else None


def object_id(live: Mapping[str, Any]) -> str:
    """The provider's id of an object: ``namespace/name``, or ``name`` for cluster-scoped ones."""
    metadata = live["metadata"]
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


def _references(resource: Mapping[str, Any]) -> list[str]:
    """The URNs a resource refers to, which the state must list before it."""
    urns = [resource.get("parent"), resource.get("deletedWith")]
    urns += resource.get("dependencies") or []
    for dependencies in (resource.get("propertyDependencies") or {}).values():
        urns += dependencies
    provider = resource.get("provider")
    if provider:
        urns.append(str(provider).rpartition("::")[0])  # "<urn>::<id>"
    return [str(urn) for urn in urns if urn]


def in_dependency_order(resources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``resources`` reordered so that each follows what it refers to, otherwise unchanged."""
    by_urn = {r["urn"]: r for r in resources}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(resource: dict[str, Any]) -> None:
        if resource["urn"] in placed:
            return
        placed.add(resource["urn"])
        for urn in _references(resource):
            if urn in by_urn:
                place(by_urn[urn])
        ordered.append(resource)

    for resource in resources:
        place(resource)
    return ordered


def adopt(deployment: Mapping[str, Any], lookup: LiveLookup) -> tuple[dict[str, Any], Adoption]:
    """The state with every pending create adopted or dropped (see the module's docstring).

    Raises :class:`RecoveryError` naming the pending creates that are neither.
    """
    state = copy.deepcopy(dict(deployment))
    operations: list[dict[str, Any]] = state.get("pending_operations") or []
    creates = [op["resource"] for op in operations if op.get("type") == CREATING]
    refs = {r["urn"]: object_ref(r) for r in creates if r.get("custom")}
    unknown = [
        r["urn"]
        for r in creates
        if r.get("custom")
        and refs[r["urn"]] is None
        and not str(r.get("type", "")).startswith(PROVIDER_TYPE_PREFIX)
    ]
    if unknown:
        raise RecoveryError(
            "cannot adopt these pending creates, resolve them with `pulumi refresh "
            f"--import-pending-creates URN ID`: {', '.join(unknown)}"
        )
    wanted = [ref for ref in refs.values() if ref is not None]
    live = lookup(wanted) if wanted else []
    result = Adoption()
    resources: list[dict[str, Any]] = state.get("resources") or []
    for resource in creates:
        if not resource.get("custom"):
            # A component: nothing outside the state, and its children may be in it already.
            resources.append(resource)
            result.adopted.append(resource["urn"])
            continue
        ref = refs[resource["urn"]]
        found = next((obj for obj in live if ref is not None and ref.matches(obj)), None)
        if found is None:
            result.dropped.append(resource["urn"])
            continue
        manager = applying_manager(found)
        outputs = {FIELD_MANAGER_KEY: manager} if manager is not None else {}
        resources.append({**resource, "id": object_id(found), "outputs": outputs})
        result.adopted.append(resource["urn"])
    state["resources"] = in_dependency_order(resources)
    state["pending_operations"] = [op for op in operations if op.get("type") != CREATING]
    return state, result


def kubectl_lookup(kubectl: Iterable[str]) -> LiveLookup:
    """A :data:`LiveLookup` through ``kubectl get -f -`` (``kubectl``: its argv with the
    kubeconfig and context the stack's provider uses)."""
    argv = list(kubectl)

    def lookup(refs: Sequence[ObjectRef]) -> list[dict[str, Any]]:
        manifests = {"apiVersion": "v1", "kind": "List", "items": [r.manifest() for r in refs]}
        output = run_kubectl(
            [*argv, "get", "-f", "-", "--ignore-not-found", "--show-managed-fields", "-o", "json"],
            "read the pending creates' objects",
            stdin=json.dumps(manifests),
        )
        if not output.strip():
            return []
        found: dict[str, Any] = json.loads(output)
        # One object is printed as itself, several as a List.
        items: list[dict[str, Any]] = found["items"] if found.get("kind") == "List" else [found]
        return items

    return lookup
