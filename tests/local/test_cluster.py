"""What the stacks rely on, checked on the real local control plane: simulated nodes over three
zones, workloads that roll out and complete under KWOK, claims that bind, admission that rejects,
and the Dapr CRDs."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.local.conftest import Cluster

WAIT = "--timeout=180s"


def _items(listing: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = listing["items"]
    return items


def _namespace(cluster: Cluster, name: str, labels: str = "") -> None:
    manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    if labels:
        manifest += f"  labels:\n    {labels}\n"
    cluster.kubectl("apply", "-f", "-", stdin=manifest)


def test_six_ready_nodes_over_three_zones(cluster: Cluster) -> None:
    nodes = _items(cluster.kubectl_json("get", "nodes"))
    ready = [
        node
        for node in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
    ]
    assert len(ready) == 6
    zones = Counter(node["metadata"]["labels"]["topology.kubernetes.io/zone"] for node in ready)
    assert zones == {"zone-a": 2, "zone-b": 2, "zone-c": 2}
    for node in ready:
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == node["metadata"]["name"]
        assert node["status"]["allocatable"]["cpu"] == "8"
        assert node["status"]["allocatable"]["memory"] == "32Gi"


def test_deployment_rolls_out_spread_over_zones(cluster: Cluster) -> None:
    _namespace(cluster, "rollout")
    cluster.kubectl(
        "-n",
        "rollout",
        "create",
        "deployment",
        "web",
        "--image=registry.invalid/web:1",
        "--replicas=3",
    )
    cluster.kubectl("-n", "rollout", "rollout", "status", "deployment/web", WAIT)
    pods = _items(cluster.kubectl_json("-n", "rollout", "get", "pods"))
    assert len(pods) == 3
    assert all(pod["status"]["phase"] == "Running" for pod in pods)
    assert all(pod["status"]["podIP"].startswith("10.244.") for pod in pods)


def test_job_completes(cluster: Cluster) -> None:
    _namespace(cluster, "jobs")
    cluster.kubectl(
        "-n", "jobs", "create", "job", "once", "--image=registry.invalid/job:1", "--", "true"
    )
    cluster.kubectl("-n", "jobs", "wait", "--for=condition=Complete", "job/once", WAIT)
    job = cluster.kubectl_json("-n", "jobs", "get", "job", "once")
    assert job["status"]["succeeded"] == 1  # type: ignore[index]


STATEFUL_SET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: volumes}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: topology.kubernetes.io/zone
            labelSelector: {matchLabels: {app: db}}
      containers:
      - {name: db, image: registry.invalid/db:1}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 50Gi}}
"""


def test_stateful_set_claims_bind_through_the_default_class(cluster: Cluster) -> None:
    """As prod's Kafka: three replicas in three zones, 50Gi claims without a class name."""
    _namespace(cluster, "volumes")
    cluster.kubectl("apply", "-f", "-", stdin=STATEFUL_SET)
    cluster.kubectl("-n", "volumes", "rollout", "status", "statefulset/db", WAIT)
    claims = _items(cluster.kubectl_json("-n", "volumes", "get", "pvc"))
    assert sorted(claim["metadata"]["name"] for claim in claims) == [
        "data-db-0",
        "data-db-1",
        "data-db-2",
    ]
    assert {claim["status"]["phase"] for claim in claims} == {"Bound"}
    assert {claim["spec"]["storageClassName"] for claim in claims} == {"standard"}
    volumes = {claim["spec"]["volumeName"] for claim in claims}
    for volume in volumes:
        pv = cluster.kubectl_json("get", "pv", volume)
        assert pv["spec"]["capacity"]["storage"] == "50Gi"  # type: ignore[index]
    pods = _items(cluster.kubectl_json("-n", "volumes", "get", "pods", "-o", "wide"))
    nodes = {pod["spec"]["nodeName"] for pod in pods}
    zones = {
        cluster.kubectl_json("get", "node", node)["metadata"]["labels"][  # type: ignore[index]
            "topology.kubernetes.io/zone"
        ]
        for node in nodes
    }
    assert zones == {"zone-a", "zone-b", "zone-c"}
    # Deleting the claims (with their namespace) deletes the provisioned volumes.
    # The PV controller reclaims them after the claims are gone, so wait for that too.
    cluster.kubectl("delete", "namespace", "volumes", WAIT)
    cluster.kubectl("wait", "--for=delete", WAIT, *(f"pv/{volume}" for volume in volumes))
    remaining = {pv["metadata"]["name"] for pv in _items(cluster.kubectl_json("get", "pv"))}
    assert not volumes & remaining


PRIVILEGED_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: loose, namespace: restricted}
spec:
  containers:
  - name: app
    image: registry.invalid/app:1
    securityContext: {privileged: true}
"""

RESTRICTED_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: tight, namespace: restricted}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: registry.invalid/app:1
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
"""


def test_pod_security_restricted_rejects_a_non_compliant_pod(cluster: Cluster) -> None:
    _namespace(cluster, "restricted", "pod-security.kubernetes.io/enforce: restricted")
    rejected = cluster.kubectl("apply", "-f", "-", stdin=PRIVILEGED_POD, check=False)
    assert 'violates PodSecurity "restricted:latest"' in rejected
    assert "privileged" in rejected
    cluster.kubectl("apply", "-f", "-", stdin=RESTRICTED_POD)


COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub, namespace: default}
spec:
  type: pubsub.kafka
  version: v1
  metadata:
  - {name: brokers, value: "kafka:9092"}
"""


SUBSCRIPTION = """\
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: tasks, namespace: default}
spec:
  pubsubname: pubsub
  topic: tasks
  routes: {default: /events/tasks}
"""


def test_dapr_crds_are_established_and_validate(cluster: Cluster) -> None:
    for name in ("components.dapr.io", "configurations.dapr.io", "subscriptions.dapr.io"):
        crd = cluster.kubectl_json("get", "crd", name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}  # type: ignore[index]
        assert conditions["Established"] == "True"
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=COMPONENT)
    # The schema is Dapr's, not a permissive stand-in: a wrong type is refused.
    broken = COMPONENT.replace("version: v1", "version: [1]")
    assert "Invalid value" in cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=broken, check=False
    )


def test_status_json(cluster: Cluster) -> None:
    result = cluster.todo_infra("local", "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["kubeconfig"] == str(cluster.kubeconfig)
    assert status["nodes"] == 6
    assert status["version"] == "v1.36.3"
    assert status["api"] == f"https://127.0.0.1:{cluster.api_port}"


def test_start_while_running_is_a_no_op(cluster: Cluster) -> None:
    pids = sorted((cluster.state_dir / "run").glob("*.pid"))
    before = {path.name: path.read_text() for path in pids}
    result = cluster.todo_infra("local", "start")
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert {path.name: path.read_text() for path in pids} == before
    assert len(before) == 9


def test_dapr_subscription_reads_in_both_versions_without_conversion(cluster: Cluster) -> None:
    """The chart's conversion webhook (served by Dapr's operator behind a Service) is off
    locally, so the stored v2alpha1 object also reads as v1alpha1."""
    cluster.kubectl("apply", "-f", "-", stdin=SUBSCRIPTION)
    old = cluster.kubectl_json("get", "subscriptions.v1alpha1.dapr.io", "tasks")
    assert old["apiVersion"] == "dapr.io/v1alpha1"
    assert old["spec"]["topic"] == "tasks"  # type: ignore[index]
