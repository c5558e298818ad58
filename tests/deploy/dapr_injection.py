"""What Dapr's injector, run by the local control plane (``stacks.local.dapr_control_plane``),
must have done to the pods a deployed stack's ReplicaSets created.

The Deployments' templates hold no ``daprd``: a pod that has one got it from the webhook, at
admission, before Pod Security ``restricted`` judged it. Without the injector the checks fail.
"""

from __future__ import annotations

from typing import Any

from infra.addons.dapr import CHART
from tests.deploy.harness import Kubectl
from tests.infra.manifests import assert_hardened

SIDECAR = "daprd"
ENABLED = "dapr.io/enabled"


def annotations(deployment: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return found


def pods_of(kubectl: Kubectl, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    labels = deployment["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return kubectl.objects(namespace, "pods", "-l", selector)


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {container["name"]: container for container in pod["spec"]["containers"]}


def flag(args: list[str], name: str) -> str:
    """The value after ``name`` in ``args``: the injector passes each as two arguments."""
    assert name in args, f"{name} not in daprd's args {args}"
    return args[args.index(name) + 1]


def assert_injected(pod: dict[str, Any], wanted: dict[str, str]) -> None:
    """``pod`` carries a daprd that the injector built from the ``wanted`` annotations, hardened
    as the restricted level requires, with mTLS on from the ``daprsystem`` Configuration."""
    name = pod["metadata"]["name"]
    daprd = containers(pod).get(SIDECAR)
    assert daprd is not None, f"pod {name} has no {SIDECAR}: {sorted(containers(pod))}"
    assert pod["metadata"]["labels"].get("dapr.io/sidecar-injected") == "true", name
    assert daprd["image"].endswith(f"/daprd:{CHART.version}"), daprd["image"]
    args = daprd["args"]
    assert flag(args, "--mode") == "kubernetes"
    assert flag(args, "--app-id") == wanted["dapr.io/app-id"]
    assert flag(args, "--app-port") == wanted["dapr.io/app-port"]
    assert flag(args, "--app-protocol") == wanted["dapr.io/app-protocol"]
    assert flag(args, "--config") == wanted["dapr.io/config"]
    assert flag(args, "--log-level") == wanted["dapr.io/log-level"]
    assert "--disable-builtin-k8s-secret-store" in args
    assert "--enable-mtls" in args
    env = {variable["name"]: variable for variable in daprd.get("env", [])}
    assert env["APP_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": wanted["dapr.io/app-token-secret"],
        "key": "token",
    }
    resources = daprd["resources"]
    assert resources["requests"] == {
        "cpu": wanted["dapr.io/sidecar-cpu-request"],
        "memory": wanted["dapr.io/sidecar-memory-request"],
    }
    assert resources["limits"] == {
        "cpu": wanted["dapr.io/sidecar-cpu-limit"],
        "memory": wanted["dapr.io/sidecar-memory-limit"],
    }
    assert_hardened(daprd["securityContext"])
