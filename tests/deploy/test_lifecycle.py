"""Each stack on the local control plane: up, no-op up, refresh, drift, one change, destroy.

The stacks run through ``todo-infra ... --local`` with the provider's own await logic, so a
passing ``up`` means every Deployment and StatefulSet rolled out and the topics Job completed;
the tests then look at the cluster with kubectl. Every engine warning fails the test that saw
it unless ``tests/deploy/engine_warnings.py`` allows it. The tests of one stack run in order
(pytest keeps a module-scoped parameter's tests together, in file order).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra import backend, frontend
from infra.namespace import POD_SECURITY_LEVEL
from stacks.render import Rendered
from tests.deploy.dapr_injection import (
    ENABLED,
    SIDECAR,
    annotations,
    assert_injected,
    containers,
    pods_of,
)
from tests.deploy.harness import STACKS, Kubectl, Project, Run, no_changes, rolled_out
from tests.infra.manifests import render


@dataclass
class Deployed:
    stack: str
    namespace: str
    first_up: Run


@pytest.fixture(scope="module", params=STACKS)
def deployed(request: pytest.FixtureRequest, project: Project) -> Iterator[Deployed]:
    stack: str = request.param
    first = project.todo_infra("up", stack)
    namespace = str(first.report.get("outputs", {}).get("namespace", ""))
    yield Deployed(stack, namespace, first)
    # A test that failed mid-way must not leave the stack behind for the next one.
    project.restore(stack)
    project.todo_infra("destroy", stack)


def test_up_rolls_everything_out(deployed: Deployed, kubectl: Kubectl) -> None:
    up = deployed.first_up.require_clean()
    assert up.changes["create"] > 50
    assert up.changes["update"] == up.changes["delete"] == 0
    rolled_out(kubectl, deployed.namespace)


def test_dapr_injects_daprd_into_the_backend_pods_only(
    deployed: Deployed, kubectl: Kubectl
) -> None:
    """Dapr's injector (a webhook on the local control plane) added daprd to every backend pod
    the ReplicaSet controller created, Pod Security ``restricted`` admitted them, and no other
    pod (the frontend above all, finding (e)) got one."""
    ns = deployed.namespace
    namespace = json.loads(kubectl("get", "namespace", ns, "-o", "json").stdout)
    enforced = namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    assert enforced == POD_SECURITY_LEVEL
    deployments = kubectl.objects(ns, "deployments")
    by_app = {annotations(d).get("dapr.io/app-id"): d for d in deployments}
    assert set(by_app) == {backend.APP_NAME, None}, "only the backend asks for a sidecar"
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        wanted = annotations(deployment)
        template = deployment["spec"]["template"]["spec"]["containers"]
        assert SIDECAR not in {c["name"] for c in template}, f"{name}'s template holds daprd"
        pods = pods_of(kubectl, ns, deployment)
        assert len(pods) == deployment["spec"]["replicas"], name
        for pod in pods:
            if wanted.get(ENABLED) == "true":
                assert_injected(pod, wanted)
            else:
                assert SIDECAR not in containers(pod), f"{name}'s pod got a daprd"
    (web,) = [
        d
        for d in deployments
        if d["metadata"]["labels"].get("app.kubernetes.io/name") == frontend.APP_NAME
    ]
    assert ENABLED not in annotations(web)
    refused = kubectl.objects(ns, "events", "--field-selector", "reason=FailedCreate")
    assert refused == [], [event["message"] for event in refused]


def test_second_up_changes_nothing(deployed: Deployed, project: Project) -> None:
    no_changes(project.todo_infra("up", deployed.stack).require_clean())


def test_refresh_finds_no_drift(deployed: Deployed, project: Project) -> None:
    no_changes(project.todo_infra("refresh", deployed.stack).require_clean())


def test_drift_made_with_kubectl_is_found_and_repaired(
    deployed: Deployed, project: Project, kubectl: Kubectl
) -> None:
    ns = deployed.namespace
    kubectl("scale", "deployment/todo-relay", "--replicas=4", "-n", ns)
    kubectl("delete", "service/todo-frontend", "-n", ns)
    refresh = project.todo_infra("refresh", deployed.stack).require_clean()
    assert refresh.changes["update"] >= 1, refresh.changes
    assert refresh.changes["delete"] == 1, refresh.changes
    repair = project.todo_infra("up", deployed.stack).require_clean()
    assert repair.changed() == {
        "todo-frontend-service": "create",
        "todo-relay-deployment": "update",
    }
    deployments = {d["metadata"]["name"]: d for d in kubectl.objects(ns, "deployments")}
    assert (
        deployments["todo-relay"]["spec"]["replicas"]
        == render(deployed.stack).config.relay.replicas
    )
    kubectl("get", "service/todo-frontend", "-n", ns)
    no_changes(project.todo_infra("refresh", deployed.stack).require_clean())


def _changed_resources(before: Rendered, after: Rendered) -> dict[str, str]:
    """What the program registers differently, by logical name: what an `up` must change."""
    old = {r.name: r.inputs for r in before.registrations}
    new = {r.name: r.inputs for r in after.registrations}
    changed = {name: "update" for name in old.keys() & new.keys() if old[name] != new[name]}
    changed.update(dict.fromkeys(new.keys() - old.keys(), "create"))
    changed.update(dict.fromkeys(old.keys() - new.keys(), "delete"))
    return changed


def _one_more_backend(stack: str) -> tuple[str, dict[str, Any]]:
    """The setting that adds one backend pod: the HPA's minimum where an HPA owns the count."""
    config = render(stack).config
    if config.autoscaling.enabled:
        bounds = config.autoscaling.backend
        return "autoscaling", {"backend": {"minReplicas": bounds.min_replicas + 1}}
    return "backend", {"replicas": config.backend.replicas + 1}


def test_one_setting_updates_only_what_it_must(deployed: Deployed, project: Project) -> None:
    key, value = _one_more_backend(deployed.stack)
    expected = _changed_resources(render(deployed.stack), render(deployed.stack, **{key: value}))
    assert expected, "the setting changes nothing in the program"
    project.set_setting(deployed.stack, key, value)
    try:
        up = project.todo_infra("up", deployed.stack).require_clean()
        assert up.changed() == expected
    finally:
        project.restore(deployed.stack)
    back = project.todo_infra("up", deployed.stack).require_clean()
    assert set(back.changed()) == set(expected)


def test_destroy_leaves_nothing(deployed: Deployed, project: Project, kubectl: Kubectl) -> None:
    destroy = project.todo_infra("destroy", deployed.stack).require_clean()
    assert destroy.changes["delete"] == deployed.first_up.changes["create"]
    gone = kubectl("get", "namespace", deployed.namespace, check=False)
    assert gone.returncode != 0, gone.stdout
    assert "NotFound" in gone.stderr
    left = kubectl("get", "all", "-A", "-l", "app.kubernetes.io/managed-by=pulumi", "-o", "name")
    assert left.stdout.strip() == ""
