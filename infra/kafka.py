"""Kafka 4 in KRaft mode: combined broker+controller nodes, no ZooKeeper, and an exporter.

Every node is both a broker and a voter of the controller quorum, which suits a cluster of
one to a handful of nodes. A quorum of three survives one lost node, so in a three-node
cluster the nodes must sit on different machines (``spread: required``) and a drain may take
only one of them at a time (the PodDisruptionBudget keeps two). The nodes also spread over
availability zones (``zones``), so one zone's outage leaves the quorum its majority.

A node is ready only when it serves requests and every partition it replicates lists it in the
ISR (:data:`READINESS_SCRIPT`). A listening port is not enough: a restarted broker accepts
connections long before it has copied what it missed, and a rolling update that moved on then
would restart the next broker while only one copy is in sync, so ``acks=all`` writes with
``min.insync.replicas=2`` fail. The StatefulSet updates one pod at a time and waits for the
updated one to be ready before the next (``Parallel`` pod management applies to scaling only),
and ``pulumi up`` waits for the rollout, so readiness is what paces both.

Clients that let you name the broker version speak Kafka 4 (:data:`PROTOCOL_VERSION`): Kafka 4
removed the request versions older than Kafka 2.1 (KIP-896), which Sarama-based clients
(kafka-exporter, Dapr's Kafka components) would otherwise pick by default (2.0.0). The service's
librdkafka asks the broker which versions it supports (``api.version.request``, on by default),
so it has nothing to pin.
"""

from __future__ import annotations

import base64
import uuid
from typing import Literal

import pulumi
import pulumi_kubernetes.apps.v1 as apps
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta
from pydantic import Field, model_validator

from infra.component import ComponentArgs, child_options
from infra.disruption import disruption_budget
from infra.labels import PinnedImage, image_version, selector_labels, standard_labels
from infra.naming import child_name
from infra.probes import Check, probes, tcp_probes
from infra.security import scratch_volume
from infra.sizes import Size, resolve
from infra.stateful import (
    DataServiceSettings,
    StatefulNames,
    StorageSettings,
    services,
    stateful_set,
    tcp_port,
    volume_claim,
)
from infra.workload import (
    METRICS_PORT_NAME,
    TAKE_BACK_FIELDS,
    ZoneSpread,
    anti_affinity,
    container,
    object_meta,
    pod_spec,
    pod_template,
    scrape_annotations,
    zone_spread,
)

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
EXPORTER_PORT = 9308
KAFKA_UID = 1000
"""The ``appuser`` of the apache/kafka image."""
EXPORTER_UID = 65534
DATA_DIR = "/var/lib/kafka/data"
CONFIG_DIR = "/opt/kafka/config"
BIN_DIR = "/opt/kafka/bin"
PROTOCOL_VERSION = "4.0.0"
"""The broker version Sarama-based clients are told to speak: the first Kafka 4 release."""

IN_SYNC_PROGRAM = (
    '{ replicas = ""; isr = ""; '
    "for (i = 1; i < NF; i++) { "
    'if ($i == "Replicas:") replicas = "," $(i + 1) ","; '
    'if ($i == "Isr:") isr = "," $(i + 1) ","; } '
    'if (index(replicas, "," id ",") && !index(isr, "," id ",")) behind++ } '
    "END { exit (behind > 0) }"
)
"""awk over ``kafka-topics.sh --describe`` lines: fails when a partition lists node ``id`` as a
replica but not in its ISR, i.e. the node has not caught up."""

READINESS_SCRIPT = (
    # A small client JVM: the container's KAFKA_HEAP_OPTS is the broker's heap.
    "out=$(KAFKA_HEAP_OPTS=-Xmx64m "
    'KAFKA_JVM_PERFORMANCE_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1" '
    f"{BIN_DIR}/kafka-topics.sh --bootstrap-server localhost:{CLIENT_PORT} "
    "--describe --under-replicated-partitions) && "
    f"printf '%s\\n' \"$out\" | awk -v id=\"$KAFKA_NODE_ID\" '{IN_SYNC_PROGRAM}'"
)
"""Ready = registered and caught up. A KRaft broker serves requests only once the controller
has seen it catch up with the metadata log and unfenced it, so an answer on its own listener
proves registration; the ISR check proves its partitions' data caught up too. One JVM per run,
so readiness runs every 30 s."""

Spread = Literal["preferred", "required"]


class KafkaSettings(DataServiceSettings):
    """What a stack may set about the Kafka cluster."""

    image: PinnedImage = Field(default="apache/kafka:4.0.0", description="Kafka 4 image, pinned.")
    exporter_image: PinnedImage = Field(
        default="danielqsj/kafka-exporter:v1.9.0",
        description="Prometheus kafka_exporter image, pinned.",
    )
    nodes: int = Field(
        default=1, ge=1, le=9, description="Combined broker+controller nodes (prod: 3)."
    )
    size: Size = Field(default="medium", description="Resources of each Kafka node.")
    storage: StorageSettings = Field(
        default_factory=StorageSettings, description="Log volume per node (prod: 50Gi)."
    )
    spread: Spread = Field(
        default="preferred",
        description="Node anti-affinity: `required` never puts two nodes on one machine.",
    )
    zones: ZoneSpread = Field(
        default="preferred",
        description="Spread over availability zones (`topology.kubernetes.io/zone`); "
        "`preferred` still schedules where the nodes carry no zone label.",
    )
    min_available: int | None = Field(
        default=None, ge=1, description="PDB minAvailable; default all nodes but one."
    )

    @model_validator(mode="after")
    def _quorum(self) -> KafkaSettings:
        if self.nodes == 2:
            raise ValueError(
                "nodes=2 gives a controller quorum that survives no loss: use 1 or 3 or more"
            )
        if self.min_available is not None and self.min_available >= self.nodes:
            raise ValueError(
                f"minAvailable={self.min_available} must be below nodes={self.nodes}, "
                "otherwise no node could ever be drained"
            )
        return self


class KafkaArgs(ComponentArgs):
    settings: KafkaSettings
    service_account_name: str
    exporter_service_account_name: str


def kafka_names(instance: str, image: str) -> StatefulNames:
    return StatefulNames(instance=instance, app="kafka", component="kafka", image=image)


def bootstrap_servers(instance: str, namespace: str) -> str:
    """The address clients bootstrap from: the client Service, which reaches any node."""
    return f"{child_name(instance, 'kafka')}.{namespace}.svc.cluster.local:{CLIENT_PORT}"


def cluster_id(namespace: str, instance: str) -> str:
    """A stable KRaft cluster id (16 bytes, URL-safe base64), the same on every ``pulumi up``.

    Every node formats its log directory with this id; a new id would orphan the data. It is
    an identifier, not a secret, so deriving it from the names is safe.
    """
    raw = uuid.uuid5(uuid.NAMESPACE_DNS, f"{instance}.{namespace}.kafka.todo-evolution").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _environment(args: KafkaArgs, names: StatefulNames) -> list[core.EnvVarArgs]:
    nodes = args.settings.nodes
    replication = min(3, nodes)
    voters = ",".join(
        f"{i}@{names.pod_host(args.namespace, i)}:{CONTROLLER_PORT}" for i in range(nodes)
    )
    heap_mi = max(256, resolve(args.settings.size).memory_limit_mi // 2)
    values = {
        "CLUSTER_ID": cluster_id(args.namespace, args.instance),
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": voters,
        "KAFKA_LISTENERS": f"PLAINTEXT://:{CLIENT_PORT},CONTROLLER://:{CONTROLLER_PORT}",
        "KAFKA_ADVERTISED_LISTENERS": (
            f"PLAINTEXT://$(POD_NAME).{names.headless}.{args.namespace}.svc.cluster.local:"
            f"{CLIENT_PORT}"
        ),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_LOG_DIRS": f"{DATA_DIR}/logs",
        # Topics are created by the infra (kafka_topics), never by a client's first write.
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_DEFAULT_REPLICATION_FACTOR": str(replication),
        "KAFKA_MIN_INSYNC_REPLICAS": str(max(1, replication - 1)),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": str(replication),
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": str(replication),
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": str(max(1, replication - 1)),
        "KAFKA_HEAP_OPTS": f"-Xms{heap_mi}m -Xmx{heap_mi}m",
        "LOG_DIR": "/opt/kafka/logs",
    }
    pod_name = core.EnvVarArgs(
        name="POD_NAME",
        value_from=core.EnvVarSourceArgs(
            field_ref=core.ObjectFieldSelectorArgs(field_path="metadata.name")
        ),
    )
    # The StatefulSet labels each pod with its ordinal (Kubernetes >= 1.28): node id = ordinal,
    # which is what the voter list above assumes.
    node_id = core.EnvVarArgs(
        name="KAFKA_NODE_ID",
        value_from=core.EnvVarSourceArgs(
            field_ref=core.ObjectFieldSelectorArgs(
                field_path="metadata.labels['apps.kubernetes.io/pod-index']"
            )
        ),
    )
    return [pod_name, node_id, *(core.EnvVarArgs(name=k, value=v) for k, v in values.items())]


class Kafka(pulumi.ComponentResource):
    """The Kafka cluster, its Services, its disruption budget and its exporter Deployment."""

    bootstrap: str
    selector: dict[str, str]
    exporter_selector: dict[str, str]

    def __init__(
        self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Kafka", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        names = kafka_names(args.instance, settings.image)
        config = core.VolumeMountArgs(name="config", mount_path=CONFIG_DIR)
        # The image's start script writes server.properties next to the shipped defaults; under
        # a read-only root the defaults are first copied into a writable emptyDir.
        copy_config = container(
            "copy-config",
            image=settings.image,
            size="nano",
            uid=KAFKA_UID,
            command=["sh", "-c", f"cp -a {CONFIG_DIR}/. /config/"],
            volume_mounts=[core.VolumeMountArgs(name="config", mount_path="/config")],
        )
        broker = container(
            "kafka",
            image=settings.image,
            size=settings.size,
            uid=KAFKA_UID,
            ports=[
                core.ContainerPortArgs(name="client", container_port=CLIENT_PORT),
                core.ContainerPortArgs(name="controller", container_port=CONTROLLER_PORT),
            ],
            env=_environment(args, names),
            volume_mounts=[
                core.VolumeMountArgs(name="data", mount_path=DATA_DIR),
                config,
                core.VolumeMountArgs(name="logs", mount_path="/opt/kafka/logs"),
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 - an emptyDir
            ],
            probes=probes(
                liveness=Check(tcp_socket=core.TCPSocketActionArgs(port="client")),
                readiness=Check(exec_=core.ExecActionArgs(command=["sh", "-c", READINESS_SCRIPT])),
                startup_seconds=300,
                readiness_period=30,
                readiness_timeout=20,
            ),
        )
        spec = pod_spec(
            init_containers=[copy_config],
            containers=[broker],
            service_account_name=args.service_account_name,
            volumes=[
                scratch_volume("config", size_limit="16Mi"),
                scratch_volume("logs", size_limit="512Mi"),
                scratch_volume("tmp", size_limit="256Mi"),
            ],
            affinity=anti_affinity(names.selector, required=settings.spread == "required"),
            topology_spread_constraints=zone_spread(names.selector, settings.zones),
            uid=KAFKA_UID,
            # A controlled shutdown moves partition leadership away before the node stops.
            termination_grace_period_seconds=120,
        )
        stateful_set(
            f"{name}-statefulset",
            names=names,
            namespace=args.namespace,
            replicas=settings.nodes,
            template=pod_template(labels=names.labels, spec=spec),
            claims=[volume_claim("data", settings.storage)],
            parallel=True,
            opts=child,
        )
        services(
            name,
            names=names,
            namespace=args.namespace,
            ports=[tcp_port("client", CLIENT_PORT)],
            # The quorum's port: the nodes reach it through the headless Service, clients never.
            peer_ports=[tcp_port("controller", CONTROLLER_PORT)],
            opts=child,
        )
        disruption_budget(
            f"{name}-pdb",
            metadata=names.meta(args.namespace),
            selector=names.selector,
            replicas=settings.nodes,
            min_available=settings.min_available,
            opts=child,
        )
        self.bootstrap = bootstrap_servers(args.instance, args.namespace)
        self.selector = names.selector
        self._exporter(name, args, child)
        self.register_outputs({"bootstrap": self.bootstrap})

    def _exporter(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions) -> None:
        """One exporter for the cluster: it reads topic offsets and consumer lag as a client."""
        settings = args.settings
        component = "kafka-exporter"
        object_name = child_name(args.instance, component)
        selector = selector_labels("kafka-exporter", args.instance, component)
        self.exporter_selector = selector
        labels = standard_labels(
            "kafka-exporter", args.instance, component, image_version(settings.exporter_image)
        )
        exporter = container(
            "exporter",
            image=settings.exporter_image,
            size=settings.exporter_size,
            uid=EXPORTER_UID,
            args=[
                f"--kafka.server={self.bootstrap}",
                f"--kafka.version={PROTOCOL_VERSION}",
                f"--web.listen-address=:{EXPORTER_PORT}",
            ],
            ports=[core.ContainerPortArgs(name=METRICS_PORT_NAME, container_port=EXPORTER_PORT)],
            probes=tcp_probes(port=METRICS_PORT_NAME, startup_seconds=300),
        )
        apps.Deployment(
            f"{name}-exporter",
            metadata=object_meta(
                object_name,
                namespace=args.namespace,
                labels=labels,
                annotations=TAKE_BACK_FIELDS,
            ),
            spec=apps.DeploymentSpecArgs(
                replicas=1,
                selector=meta.LabelSelectorArgs(match_labels=selector),
                template=pod_template(
                    labels=labels,
                    spec=pod_spec(
                        containers=[exporter],
                        service_account_name=args.exporter_service_account_name,
                        uid=EXPORTER_UID,
                    ),
                    annotations=scrape_annotations(EXPORTER_PORT),
                ),
            ),
            opts=opts,
        )
