"""Per stack: what is created, how big, how hardened, and in which order.

Each stack is run from its shipped ``Pulumi.<stack>.yaml`` under mocks (see conftest.py), so
these tests check what ``pulumi up`` would deploy.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from stacks.render import Rendered
from stacks.summary import min_replicas, pod_template, total_requests
from tests.infra.manifests import (
    STACKS,
    Manifest,
    containers,
    named,
    of_kind,
    pod_spec,
    workloads,
)

COMMON = {
    "Namespace": 1,
    "ServiceAccount": 8,
    "Secret": 2,
    "ConfigMap": 4,
    "Service": 8,
    "StatefulSet": 3,
    "Deployment": 4,
    "Job": 1,
    "Ingress": 1,
    "Component": 3,
    "Configuration": 1,
}
EXPECTED_KINDS = {
    "dev": COMMON,
    # TLS on: the policies include the one admitting the ingress to cert-manager's solver.
    "staging": {**COMMON, "NetworkPolicy": 13, "PodDisruptionBudget": 1},
    # The backup CronJob, its volume and its account.
    "prod": {
        **COMMON,
        "ServiceAccount": 9,
        "PersistentVolumeClaim": 1,
        "CronJob": 1,
        "NetworkPolicy": 13,
        "PodDisruptionBudget": 4,
        "HorizontalPodAutoscaler": 2,
    },
}
TODO_LABELS = ("app.kubernetes.io/instance", "app.kubernetes.io/part-of")
LONG_RUNNING = ("Deployment", "StatefulSet")


def manifests(stacks: dict[str, Rendered], stack: str) -> list[Manifest]:
    return stacks[stack].manifests()


@pytest.mark.parametrize("stack", STACKS)
def test_kinds_and_counts(stacks: dict[str, Rendered], stack: str) -> None:
    counts = Counter(m["kind"] for m in manifests(stacks, stack))
    assert dict(counts) == EXPECTED_KINDS[stack]


@pytest.mark.parametrize(
    ("stack", "namespace"),
    [("dev", "todo-app-dev"), ("staging", "todo-app-staging"), ("prod", "todo-app")],
)
def test_everything_lives_in_the_profile_namespace(
    stacks: dict[str, Rendered], stack: str, namespace: str
) -> None:
    objects = manifests(stacks, stack)
    assert named(objects, "Namespace", namespace)
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("stack", "frontend", "backend", "kafka", "log_level"),
    [
        ("dev", 1, 1, 1, "debug"),
        ("staging", 2, 1, 1, "info"),
        ("prod", 3, 2, 3, "warning"),
    ],
)
def test_replicas_and_log_level_per_profile(
    stacks: dict[str, Rendered],
    stack: str,
    frontend: int,
    backend: int,
    kafka: int,
    log_level: str,
) -> None:
    objects = manifests(stacks, stack)
    assert min_replicas(named(objects, "Deployment", "todo-frontend"), objects) == frontend
    assert min_replicas(named(objects, "Deployment", "todo-backend"), objects) == backend
    assert min_replicas(named(objects, "StatefulSet", "todo-kafka"), objects) == kafka
    settings = named(objects, "ConfigMap", "todo-settings")["data"]
    assert settings["TODO_LOG_LEVEL"] == log_level


@pytest.mark.parametrize(
    ("stack", "postgres", "redis", "kafka"),
    [
        ("dev", "2Gi", "1Gi", "5Gi"),
        ("staging", "10Gi", "2Gi", "10Gi"),
        ("prod", "50Gi", "10Gi", "50Gi"),
    ],
)
def test_volume_sizes_per_profile(
    stacks: dict[str, Rendered], stack: str, postgres: str, redis: str, kafka: str
) -> None:
    objects = manifests(stacks, stack)
    for name, size in (("todo-postgres", postgres), ("todo-redis", redis), ("todo-kafka", kafka)):
        (claim,) = named(objects, "StatefulSet", name)["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"] == size, name


def test_dev_fits_a_laptop(stacks: dict[str, Rendered]) -> None:
    cpu_m, memory_mi = total_requests(manifests(stacks, "dev"))
    assert cpu_m <= 1500
    assert memory_mi <= 3 * 1024


def test_profiles_grow_from_dev_to_prod(stacks: dict[str, Rendered]) -> None:
    totals = [total_requests(manifests(stacks, stack)) for stack in STACKS]
    assert totals == sorted(totals)
    assert len(set(totals)) == len(totals)


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_is_hardened(stacks: dict[str, Rendered], stack: str) -> None:
    for workload in workloads(manifests(stacks, stack)):
        for _, container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            assert context["runAsUser"] > 0, where


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_is_hardened(stacks: dict[str, Rendered], stack: str) -> None:
    for workload in workloads(manifests(stacks, stack)):
        spec = pod_spec(workload)
        name = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["serviceAccountName"].startswith("todo-"), name


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_has_requests_and_limits(stacks: dict[str, Rendered], stack: str) -> None:
    for workload in workloads(manifests(stacks, stack)):
        for _, container in containers(workload):
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) == {"cpu", "memory"}, (container["name"], bound)


@pytest.mark.parametrize("stack", STACKS)
def test_long_running_containers_have_probes(stacks: dict[str, Rendered], stack: str) -> None:
    for workload in workloads(manifests(stacks, stack)):
        if workload["kind"] not in LONG_RUNNING:
            continue
        for role, container in containers(workload):
            if role == "main":
                where = f"{workload['metadata']['name']}/{container['name']}"
                assert "livenessProbe" in container, where
                assert "readinessProbe" in container, where


@pytest.mark.parametrize("stack", STACKS)
def test_slow_starters_have_startup_probes(stacks: dict[str, Rendered], stack: str) -> None:
    objects = manifests(stacks, stack)
    for kind, name, container_name in (
        ("StatefulSet", "todo-postgres", "postgres"),
        ("StatefulSet", "todo-kafka", "kafka"),
        ("Deployment", "todo-backend", "api"),
    ):
        workload = named(objects, kind, name)
        (container,) = [c for _, c in containers(workload) if c["name"] == container_name]
        assert "startupProbe" in container, name


@pytest.mark.parametrize("stack", STACKS)
def test_every_image_is_pinned(stacks: dict[str, Rendered], stack: str) -> None:
    for workload in workloads(manifests(stacks, stack)):
        for _, container in containers(workload):
            image = container["image"]
            name, _, digest = image.partition("@")
            repository, _, tag = name.rpartition(":")
            if digest:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image
            else:
                assert repository, image
                assert tag, image
                assert "/" not in tag, image
                assert tag != "latest", image


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_carries_the_recommended_labels(
    stacks: dict[str, Rendered], stack: str
) -> None:
    for obj in manifests(stacks, stack):
        labels = obj["metadata"].get("labels", {})
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for label in (*TODO_LABELS, "app.kubernetes.io/managed-by"):
            assert label in labels, (where, label)
        if obj["kind"] != "Namespace":
            assert "app.kubernetes.io/name" in labels, where
            assert "app.kubernetes.io/component" in labels, where
    for workload in workloads(manifests(stacks, stack)):
        template_labels = pod_template(workload)["metadata"]["labels"]
        assert "app.kubernetes.io/version" in template_labels, workload["metadata"]["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_multi_replica_workload_has_a_disruption_budget(
    stacks: dict[str, Rendered], stack: str
) -> None:
    objects = manifests(stacks, stack)
    budgets = of_kind(objects, "PodDisruptionBudget")
    for workload in workloads(objects):
        count = min_replicas(workload, objects)
        pod_labels = pod_template(workload)["metadata"]["labels"]
        matching = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        ]
        name = workload["metadata"]["name"]
        if count > 1:
            assert len(matching) == 1, name
            assert 1 <= matching[0]["spec"]["minAvailable"] < count, name
        else:
            assert matching == [], f"{name} has one replica: a budget would block drains"


def test_prod_budgets_match_the_issue(stacks: dict[str, Rendered]) -> None:
    objects = manifests(stacks, "prod")
    minimum = {
        b["metadata"]["name"]: b["spec"]["minAvailable"]
        for b in of_kind(objects, "PodDisruptionBudget")
    }
    assert minimum == {"todo-frontend": 2, "todo-backend": 1, "todo-kafka": 2, "todo-relay": 1}


def test_prod_kafka_nodes_never_share_a_machine(stacks: dict[str, Rendered]) -> None:
    kafka = named(manifests(stacks, "prod"), "StatefulSet", "todo-kafka")
    anti = pod_spec(kafka)["affinity"]["podAntiAffinity"]
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == kafka["spec"]["selector"]["matchLabels"]


def test_prod_autoscalers_own_the_web_tier(stacks: dict[str, Rendered]) -> None:
    objects = manifests(stacks, "prod")
    bounds = {
        h["spec"]["scaleTargetRef"]["name"]: (h["spec"]["minReplicas"], h["spec"]["maxReplicas"])
        for h in of_kind(objects, "HorizontalPodAutoscaler")
    }
    assert bounds == {"todo-frontend": (3, 15), "todo-backend": (2, 10)}
    for name in bounds:
        assert "replicas" not in named(objects, "Deployment", name)["spec"], name


def test_prod_topics_are_replicated(stacks: dict[str, Rendered]) -> None:
    (job,) = of_kind(manifests(stacks, "prod"), "Job")
    (container,) = pod_spec(job)["containers"]
    script = container["command"][-1]
    for topic in ("task.created", "task.updated", "task.deleted", "task.completed"):
        assert f"--topic {topic} --partitions 3 --replication-factor 3" in script
    assert "--config min.insync.replicas=2" in script
    assert f"retention.ms={7 * 24 * 3600 * 1000}" in script


def _waits_for(rendered: Rendered) -> dict[str, frozenset[str]]:
    """Each resource's transitive dependencies, by logical name."""
    direct = {r.name: r.dependencies for r in rendered.registrations}
    closure: dict[str, frozenset[str]] = {}

    def visit(name: str) -> frozenset[str]:
        if name not in closure:
            closure[name] = frozenset()
            found = set(direct.get(name, ()))
            for dependency in direct.get(name, ()):
                found |= visit(dependency)
            closure[name] = frozenset(found)
        return closure[name]

    for name in direct:
        visit(name)
    return closure


@pytest.mark.parametrize("stack", STACKS)
def test_migrations_run_before_the_api(stacks: dict[str, Rendered], stack: str) -> None:
    backend = named(manifests(stacks, stack), "Deployment", "todo-backend")
    spec = pod_spec(backend)
    init = [c["name"] for c in spec["initContainers"]]
    assert init == ["wait-for-postgres", "migrate"]
    (migrate,) = [c for c in spec["initContainers"] if c["name"] == "migrate"]
    assert migrate["command"] == ["todo-api", "migrate"]
    assert [c["name"] for c in spec["containers"]] == ["api"]
    waits = _waits_for(stacks[stack])
    assert "todo-postgres-statefulset" in waits["todo-backend-deployment"]
    assert "todo-backend-deployment" in waits["todo-relay-deployment"]


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_order(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    waits = _waits_for(rendered)
    for registration in rendered.registrations:
        kind = registration.inputs.get("kind")
        if registration.type.startswith("kubernetes:") and kind and kind != "Namespace":
            assert "todo-namespace-namespace" in waits[registration.name], registration.name
    assert "todo-kafka-statefulset" in waits["todo-topics-job"]


@pytest.mark.parametrize("stack", STACKS)
def test_outputs(stacks: dict[str, Rendered], stack: str) -> None:
    outputs = stacks[stack].outputs
    namespace = stacks[stack].config.namespace
    assert outputs["namespace"] == namespace
    assert outputs["kafkaBootstrap"] == f"todo-kafka.{namespace}.svc.cluster.local:9092"
    endpoints = outputs["endpoints"]
    assert isinstance(endpoints, dict)
    assert set(endpoints) == {"api", "frontend", "postgres", "redis", "kafka"}
    ingress = stacks[stack].config.ingress
    assert outputs["url"] == f"{'https' if ingress.tls else 'http'}://{ingress.host}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_container_holds_a_secret_in_its_environment(
    stacks: dict[str, Rendered], stack: str
) -> None:
    """Credentials are mounted files (``*_FILE``), which ``/proc/<pid>/environ``, crash reports
    and child processes do not see; the Dapr sidecar, added by Dapr's injector, is not ours."""
    for workload in workloads(manifests(stacks, stack)):
        for _, container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            for variable in container.get("env", []):
                assert "secretKeyRef" not in variable.get("valueFrom", {}), where
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, where
