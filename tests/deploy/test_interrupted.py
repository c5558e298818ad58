"""An ``up`` killed mid-way (SIGKILL of the CLI, the provider and the program, none of which may
survive it) is recovered by the one command its error names, ``up --recover``, which adopts the
objects the killed run had created instead of creating them again.

The kill is driven by the state, not by time: it happens once some objects exist and the
engine's checkpoint holds a pending create of a workload whose object already exists in the
cluster (the provider is awaiting its rollout), the case a plain refresh cannot repair. The
nodes are cordoned meanwhile, so no rollout can finish and that state is reached however fast
the machine: on a fast one, the whole ``up`` once ended between two looks at the state.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stacks.recovery import (
    CREATING,
    FIELD_MANAGER_KEY,
    ObjectRef,
    applying_manager,
    kubectl_lookup,
    object_ref,
)
from tests.deploy.harness import OPERATION_TIMEOUT_S, Kubectl, Project, no_changes, rolled_out
from tests.process_table import descendants, kill_session, still_running

STACK = "dev"
NAMESPACE = "todo-app-dev"
MANAGED = "app.kubernetes.io/managed-by=pulumi"
KINDS = "configmaps,secrets,serviceaccounts,services,deployments,statefulsets,jobs,roles"
MIN_OBJECTS = 8
"""Objects of the stack that must exist before the kill: the run is well under way."""
AWAITED_KINDS = frozenset({"Deployment", "StatefulSet"})
"""Kinds whose create the provider awaits for seconds (the rollout): one must be in flight."""
POLL_S = 0.5
PROVIDER = "pulumi-resource-kubernetes"


def _managed_objects(kubectl: Kubectl) -> list[dict[str, Any]]:
    return kubectl.objects(NAMESPACE, KINDS, "-l", MANAGED, "--show-managed-fields")


def _pending_made(project: Project, kubectl: Kubectl) -> dict[str, ObjectRef]:
    """The pending creates in the stack's checkpoint whose objects exist, by URN."""
    operations = project.checkpoint(STACK).get("pending_operations") or []
    creates = {
        op["resource"]["urn"]: ref
        for op in operations
        if op.get("type") == CREATING and (ref := object_ref(op["resource"])) is not None
    }
    if not creates:
        return {}
    live = kubectl_lookup(kubectl.argv)(list(creates.values()))
    return {urn: ref for urn, ref in creates.items() if any(ref.matches(obj) for obj in live)}


@contextmanager
def _unschedulable(kubectl: Kubectl) -> Iterator[None]:
    """Every node cordoned: new pods stay Pending, so every rollout waits until uncordoned."""
    nodes = kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert nodes, "the local control plane has no nodes"
    for node in nodes:
        kubectl("cordon", node)
    try:
        yield
    finally:
        for node in nodes:
            kubectl("uncordon", node)


def _kill_mid_way(project: Project, kubectl: Kubectl) -> None:
    """Start an ``up`` and SIGKILL all it runs once the state is as wanted; check that none of
    it survives."""
    with _unschedulable(kubectl):
        _start_and_kill(project, kubectl)


def _start_and_kill(project: Project, kubectl: Kubectl) -> None:
    process = subprocess.Popen(  # fixed argv, no shell
        project.command("up", STACK),
        cwd=project.root,
        env=project.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + OPERATION_TIMEOUT_S  # a guard against a hang only
    try:
        while not (
            len(_managed_objects(kubectl)) >= MIN_OBJECTS
            and AWAITED_KINDS & {ref.kind for ref in _pending_made(project, kubectl).values()}
        ):
            assert process.poll() is None, (
                f"the up ended (exit {process.returncode}) before a workload's pending create "
                "had its object: nothing was interrupted"
            )
            assert time.monotonic() < deadline, "no workload's pending create appeared in time"
            time.sleep(POLL_S)
        tree = descendants(process.pid)
    finally:
        kill_session(process.pid)
        process.wait()
    # Checked through the tree, not the session the kill swept (all of which is gone once it
    # returns), so a process that left the session shows here. The provider, which Pulumi starts
    # in a process group of its own, must be in the tree, or the check would see nothing.
    assert PROVIDER in {p.name for p in tree}, "\n".join(map(str, tree))
    survivors = [p for p in tree if still_running(p)]
    assert not survivors, "processes of the killed up still run:\n" + "\n".join(map(str, survivors))


@pytest.fixture
def own_project(tmp_path: Path) -> Project:
    """A project with its own state: a failure here must not leave the other deploy tests a
    locked or half-recovered stack."""
    return Project(tmp_path / "project", tmp_path / "state")


@pytest.fixture
def killed(own_project: Project, kubectl: Kubectl) -> Iterator[dict[str, ObjectRef]]:
    """The stack after a killed ``up``: the pending creates whose objects exist. Whatever
    happens, nothing of it is left for the other deploy tests, whose own ``up`` would clash
    with its objects."""
    try:
        _kill_mid_way(own_project, kubectl)
        yield _pending_made(own_project, kubectl)
    finally:
        if own_project.todo_infra("destroy", STACK).code != 0:
            kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait")


def test_killed_up_is_recovered_by_the_command_its_error_names(
    killed: dict[str, ObjectRef], own_project: Project, kubectl: Kubectl
) -> None:
    assert killed, "the kill left no pending create with an existing object"
    blocked = own_project.todo_infra("up", STACK)
    assert blocked.code == 1, blocked.output[-3000:]
    assert f"todo-infra up --stack {STACK} --recover" in blocked.output

    recovered = own_project.todo_infra("up", STACK, "--recover").require_clean()
    assert f"recover: adopted {len(killed)} object(s)" in recovered.output
    steps = {s["urn"]: s["op"] for s in recovered.report["steps"]}
    recreated = {urn: op for urn, op in steps.items() if urn in killed and op != "update"}
    assert not recreated, f"adopted objects were not left in place: {recreated}"
    assert recovered.changes["replace"] == recovered.changes["delete"] == 0
    rolled_out(kubectl, NAMESPACE)
    # Adopted with the field manager that created them, so later applies own their fields.
    state = {r["urn"]: r for r in own_project.checkpoint(STACK)["resources"]}
    live = kubectl_lookup(kubectl.argv)(list(killed.values()))
    for urn, ref in killed.items():
        (obj,) = [o for o in live if ref.matches(o)]
        manager = applying_manager(obj)
        assert manager is not None, obj["metadata"].get("managedFields")
        assert state[urn]["outputs"][FIELD_MANAGER_KEY] == manager, urn
    for obj in _managed_objects(kubectl):
        assert applying_manager(obj) is not None, obj["metadata"]["managedFields"]

    no_changes(own_project.todo_infra("up", STACK).require_clean())

    destroy = own_project.todo_infra("destroy", STACK).require_clean()
    assert destroy.changes["delete"] > 50
    gone = kubectl("get", "namespace", NAMESPACE, check=False)
    assert "NotFound" in gone.stderr, gone.stdout
    left = kubectl("get", "all", "-A", "-l", MANAGED, "-o", "name")
    assert left.stdout.strip() == ""
