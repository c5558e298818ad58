"""The shape every data service shares (PostgreSQL, Redis, Kafka).

A StatefulSet whose pods keep their volume and their DNS name across restarts, a headless
Service that gives each pod that name, a client Service for the applications, and the
volume-claim template that asks for durable storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes.apps.v1 as apps
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta
from pydantic import Field, field_validator

from infra.component import ComponentArgs, SettingsModel
from infra.labels import PinnedImage, image_version, selector_labels, standard_labels
from infra.naming import child_name, require_dns_label
from infra.probes import http_probes
from infra.sizes import Size
from infra.workload import (
    METRICS_PORT_NAME,
    container,
    object_meta,
    pod_template,
    scrape_annotations,
)


class StorageSettings(SettingsModel):
    """A persistent volume per pod."""

    size_gi: int = Field(default=1, ge=1, le=16384, description="Volume size in GiB per pod.")
    storage_class: str | None = Field(
        default=None, description="StorageClass; unset uses the cluster's default class."
    )

    @field_validator("storage_class")
    @classmethod
    def _class_name(cls, value: str | None) -> str | None:
        return None if value is None else require_dns_label(value, field="storageClass")


class DataServiceSettings(SettingsModel):
    """What every data service lets a stack set; each service gives its own defaults."""

    image: PinnedImage = Field(description="Server image, pinned.")
    exporter_image: PinnedImage = Field(description="Prometheus exporter image, pinned.")
    size: Size = Field(description="Resources of the server container.")
    exporter_size: Size = Field(default="nano", description="Resources of the exporter.")
    storage: StorageSettings = Field(
        default_factory=StorageSettings, description="Data volume per pod."
    )


class DataServiceArgs(ComponentArgs):
    """The wiring of a data service: the Secret holding its password and its account."""

    secret_name: str
    service_account_name: str


class StatefulNames:
    """The names and labels of one data service, derived once."""

    def __init__(self, *, instance: str, app: str, component: str, image: str) -> None:
        self.name = child_name(instance, component)
        self.headless = child_name(self.name, "headless")
        self.selector = selector_labels(app, instance, component)
        self.labels = standard_labels(app, instance, component, image_version(image))

    def meta(self, namespace: str, name: str | None = None) -> meta.ObjectMetaArgs:
        return object_meta(name or self.name, namespace=namespace, labels=self.labels)

    def host(self, namespace: str) -> str:
        """The client Service's DNS name inside the cluster."""
        return f"{self.name}.{namespace}.svc.cluster.local"

    def pod_host(self, namespace: str, ordinal: int) -> str:
        """The stable DNS name of one pod, through the headless Service."""
        return f"{self.name}-{ordinal}.{self.headless}.{namespace}.svc.cluster.local"


def claim_spec(storage: StorageSettings) -> core.PersistentVolumeClaimSpecArgs:
    """One ReadWriteOnce volume of the settings' size and class."""
    return core.PersistentVolumeClaimSpecArgs(
        access_modes=["ReadWriteOnce"],
        storage_class_name=storage.storage_class,
        resources=core.VolumeResourceRequirementsArgs(requests={"storage": f"{storage.size_gi}Gi"}),
    )


def volume_claim(name: str, storage: StorageSettings) -> core.PersistentVolumeClaimArgs:
    """The claim template of a StatefulSet: one volume per pod."""
    return core.PersistentVolumeClaimArgs(
        metadata=meta.ObjectMetaArgs(name=name), spec=claim_spec(storage)
    )


def services(
    resource_name: str,
    *,
    names: StatefulNames,
    namespace: str,
    ports: Sequence[core.ServicePortArgs],
    peer_ports: Sequence[core.ServicePortArgs] = (),
    opts: pulumi.ResourceOptions,
) -> tuple[core.Service, core.Service]:
    """The headless Service (per-pod DNS, ready or not) and the client Service.

    The headless one publishes pods before they are ready, because the members of a quorum
    (Kafka controllers) must find each other to become ready at all. ``peer_ports`` are the
    ports only the service's own nodes use: on the headless Service, not the client one.
    """
    headless = core.Service(
        f"{resource_name}-headless",
        metadata=names.meta(namespace, names.headless),
        spec=core.ServiceSpecArgs(
            cluster_ip="None",
            publish_not_ready_addresses=True,
            selector=names.selector,
            ports=[*ports, *peer_ports],
        ),
        opts=opts,
    )
    client = core.Service(
        f"{resource_name}-service",
        metadata=names.meta(namespace),
        spec=core.ServiceSpecArgs(type="ClusterIP", selector=names.selector, ports=list(ports)),
        opts=opts,
    )
    return headless, client


def stateful_set(
    resource_name: str,
    *,
    names: StatefulNames,
    namespace: str,
    replicas: int,
    template: core.PodTemplateSpecArgs,
    claims: Sequence[core.PersistentVolumeClaimArgs],
    parallel: bool = False,
    annotations: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions,
) -> apps.StatefulSet:
    """The StatefulSet; ``parallel`` starts all pods at once (quorum members wait for each other).

    Volumes are kept when the StatefulSet is deleted or scaled down: data outlives a mistake.
    """
    return apps.StatefulSet(
        resource_name,
        metadata=object_meta(
            names.name, namespace=namespace, labels=names.labels, annotations=annotations
        ),
        spec=apps.StatefulSetSpecArgs(
            replicas=replicas,
            service_name=names.headless,
            selector=meta.LabelSelectorArgs(match_labels=names.selector),
            pod_management_policy="Parallel" if parallel else "OrderedReady",
            update_strategy=apps.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
            persistent_volume_claim_retention_policy=(
                apps.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"
                )
            ),
            template=template,
            volume_claim_templates=list(claims),
        ),
        opts=opts,
    )


class SingleInstance(pulumi.ComponentResource):
    """A data service of one pod (PostgreSQL, Redis); ``host``/``port`` are what clients use."""

    host: str
    port: int
    selector: dict[str, str]

    def _single_instance(
        self,
        name: str,
        *,
        names: StatefulNames,
        namespace: str,
        spec: core.PodSpecArgs,
        storage: StorageSettings,
        port_name: str,
        port: int,
        metrics_port: int,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """The one-pod StatefulSet with a ``data`` volume, scraped on ``metrics_port`` (the
        :func:`metrics_sidecar`'s), its headless and client Services publishing ``port`` and
        the metrics port, then the outputs: the component's last step."""
        stateful_set(
            f"{name}-statefulset",
            names=names,
            namespace=namespace,
            replicas=1,
            template=pod_template(
                labels=names.labels, spec=spec, annotations=scrape_annotations(metrics_port)
            ),
            claims=[volume_claim("data", storage)],
            opts=opts,
        )
        ports = [tcp_port(port_name, port), tcp_port(METRICS_PORT_NAME, metrics_port)]
        services(name, names=names, namespace=namespace, ports=ports, opts=opts)
        self.host = names.host(namespace)
        self.selector = names.selector
        self.port = port
        self.register_outputs({"host": self.host, "port": self.port})


def metrics_sidecar(
    settings: DataServiceSettings,
    *,
    uid: int,
    port: int,
    env: Sequence[core.EnvVarArgs],
    volume_mounts: Sequence[core.VolumeMountArgs],
    health_path: str,
) -> core.ContainerArgs:
    """The Prometheus exporter beside a single-instance server: it reads the server over
    loopback and serves ``port``, which :class:`SingleInstance` scrapes and publishes."""
    return container(
        METRICS_PORT_NAME,
        image=settings.exporter_image,
        size=settings.exporter_size,
        uid=uid,
        ports=[core.ContainerPortArgs(name=METRICS_PORT_NAME, container_port=port)],
        env=env,
        volume_mounts=volume_mounts,
        probes=http_probes(
            port=METRICS_PORT_NAME, liveness_path=health_path, readiness_path=health_path
        ),
    )


def tcp_port(name: str, port: int) -> core.ServicePortArgs:
    return core.ServicePortArgs(name=name, port=port, target_port=name, protocol="TCP")
