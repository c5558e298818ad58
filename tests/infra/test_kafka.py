"""Kafka: KRaft combined nodes, quorum wiring, spreading, budget and exporter."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from pydantic import ValidationError

from infra.kafka import IN_SYNC_PROGRAM, Kafka, KafkaArgs, KafkaSettings, cluster_id
from infra.stateful import StorageSettings
from tests.infra.manifests import build, containers, named, of_kind, pod_spec


def _objects(**settings: Any) -> list[dict[str, Any]]:
    args = KafkaArgs(
        namespace="todo-test",
        instance="todo",
        settings=KafkaSettings.model_validate(settings),
        service_account_name="todo-kafka",
        exporter_service_account_name="todo-kafka-exporter",
    )
    return build(lambda: Kafka("t", args))


def _env(objects: list[dict[str, Any]]) -> dict[str, Any]:
    statefulset = named(objects, "StatefulSet", "todo-kafka")
    (broker,) = [c for _, c in containers(statefulset) if c["name"] == "kafka"]
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in broker["env"]}


def test_nodes_are_brokers_and_controllers_without_zookeeper() -> None:
    env = _env(_objects(nodes=3))
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not any("ZOOKEEPER" in name for name in env)
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [
        f"{i}@todo-kafka-{i}.todo-kafka-headless.todo-test.svc.cluster.local:9093" for i in range(3)
    ]


def test_node_id_is_the_pod_ordinal() -> None:
    env = _env(_objects(nodes=3))
    field = env["KAFKA_NODE_ID"]["fieldRef"]["fieldPath"]
    assert field == "metadata.labels['apps.kubernetes.io/pod-index']"


def test_topics_are_never_created_by_clients() -> None:
    assert _env(_objects())["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize(("nodes", "replication", "isr"), [(1, "1", "1"), (3, "3", "2")])
def test_internal_topics_follow_the_cluster_size(nodes: int, replication: str, isr: str) -> None:
    env = _env(_objects(nodes=nodes))
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == replication
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == isr


def test_cluster_id_is_stable_and_kraft_shaped() -> None:
    first = cluster_id("todo-app", "todo")
    assert first == cluster_id("todo-app", "todo")
    assert first != cluster_id("todo-app-dev", "todo")
    assert len(first) == 22
    assert _env(_objects())["CLUSTER_ID"] == cluster_id("todo-test", "todo")


def test_three_nodes_on_three_machines_with_a_budget_of_two() -> None:
    objects = _objects(nodes=3, spread="required", storage={"sizeGi": 50})
    statefulset = named(objects, "StatefulSet", "todo-kafka")
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    anti = pod_spec(statefulset)["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in anti
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    pdb = named(objects, "PodDisruptionBudget", "todo-kafka")
    assert pdb["spec"]["minAvailable"] == 2


def test_one_node_prefers_spreading_and_has_no_budget() -> None:
    objects = _objects(nodes=1)
    anti = pod_spec(named(objects, "StatefulSet", "todo-kafka"))["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in anti
    assert of_kind(objects, "PodDisruptionBudget") == []


def test_config_is_copied_to_a_writable_volume_before_start() -> None:
    statefulset = named(_objects(), "StatefulSet", "todo-kafka")
    (init,) = pod_spec(statefulset)["initContainers"]
    assert init["command"][-1] == "cp -a /opt/kafka/config/. /config/"
    assert init["securityContext"]["readOnlyRootFilesystem"] is True


def test_exporter_reads_the_cluster_through_the_client_service() -> None:
    exporter = named(_objects(), "Deployment", "todo-kafka-exporter")
    (container,) = pod_spec(exporter)["containers"]
    assert "--kafka.server=todo-kafka.todo-test.svc.cluster.local:9092" in container["args"]
    assert pod_spec(exporter)["serviceAccountName"] == "todo-kafka-exporter"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"nodes": 2}, "nodes=2 gives a controller quorum"),
        ({"nodes": 3, "minAvailable": 3}, "minAvailable=3 must be below nodes=3"),
        ({"nodes": 0}, "greater than or equal to 1"),
        ({"image": "apache/kafka"}, "no tag"),
    ],
)
def test_settings_are_checked(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings.model_validate(settings)


def test_storage_class_must_be_a_name() -> None:
    with pytest.raises(ValidationError, match=r"storageClass='SSD!' is not a valid"):
        StorageSettings.model_validate({"storageClass": "SSD!"})


def _broker(objects: list[dict[str, Any]]) -> dict[str, Any]:
    statefulset = named(objects, "StatefulSet", "todo-kafka")
    (broker,) = [c for _, c in containers(statefulset) if c["name"] == "kafka"]
    return broker


def test_brokers_spread_over_zones() -> None:
    statefulset = named(_objects(nodes=3), "StatefulSet", "todo-kafka")
    (constraint,) = pod_spec(statefulset)["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
    assert constraint["maxSkew"] == 1
    assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    assert (
        constraint["labelSelector"]["matchLabels"] == statefulset["spec"]["selector"]["matchLabels"]
    )


def test_required_zone_spread_refuses_to_stack_a_zone() -> None:
    statefulset = named(_objects(nodes=3, zones="required"), "StatefulSet", "todo-kafka")
    (constraint,) = pod_spec(statefulset)["topologySpreadConstraints"]
    assert constraint["whenUnsatisfiable"] == "DoNotSchedule"


def test_controller_port_is_on_the_headless_service_only() -> None:
    objects = _objects(nodes=3)
    client = named(objects, "Service", "todo-kafka")
    headless = named(objects, "Service", "todo-kafka-headless")
    assert [p["port"] for p in client["spec"]["ports"]] == [9092]
    assert [p["port"] for p in headless["spec"]["ports"]] == [9092, 9093]


def test_readiness_asks_the_broker_whether_it_caught_up() -> None:
    broker = _broker(_objects(nodes=3))
    readiness = broker["readinessProbe"]
    assert "tcpSocket" not in readiness
    script = readiness["exec"]["command"][-1]
    assert "kafka-topics.sh --bootstrap-server localhost:9092" in script
    assert "--under-replicated-partitions" in script
    # The probe's JVM must not take the broker's heap (KAFKA_HEAP_OPTS of the container).
    assert "KAFKA_HEAP_OPTS=-Xmx64m" in script
    assert readiness["timeoutSeconds"] < readiness["periodSeconds"]
    # Liveness stays a port check: a broker waiting for its peers is not wedged.
    assert broker["livenessProbe"]["tcpSocket"]["port"] == "client"


PARTITIONS = (
    "\tTopic: task.created\tPartition: 0\tLeader: 0\tReplicas: 0,1,2\tIsr: 0,2\tElr: \t"
    "LastKnownElr: \n"
    "\tTopic: task.updated\tPartition: 1\tLeader: 2\tReplicas: 2,0,1\tIsr: 2,0\tElr: \t"
    "LastKnownElr: \n"
    "\tTopic: __consumer_offsets\tPartition: 7\tLeader: 0\tReplicas: 0,12,2\tIsr: 0,2\t"
    "Elr: \tLastKnownElr: \n"
)


def _caught_up(node: str, partitions: str) -> bool:
    """Runs the probe's awk program, as the broker's shell would, on describe output."""
    awk = shutil.which("awk")
    assert awk is not None, "awk is needed to run the probe's program"
    result = subprocess.run(
        [awk, "-v", f"id={node}", IN_SYNC_PROGRAM], input=partitions, text=True, check=False
    )
    return result.returncode == 0


@pytest.mark.parametrize(
    ("node", "caught_up"),
    [("0", True), ("2", True), ("1", False), ("12", False)],
)
def test_in_sync_check_fails_for_a_replica_missing_from_the_isr(node: str, caught_up: bool) -> None:
    assert _caught_up(node, PARTITIONS) is caught_up


def test_in_sync_check_passes_with_nothing_under_replicated() -> None:
    assert _caught_up("1", "")


def test_exporter_speaks_kafka_4() -> None:
    (container,) = pod_spec(named(_objects(), "Deployment", "todo-kafka-exporter"))["containers"]
    assert "--kafka.version=4.0.0" in container["args"]
