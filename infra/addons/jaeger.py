"""Jaeger: where the service's and the Dapr sidecars' spans go, and where people read traces.

One all-in-one pod (Jaeger v2: an OpenTelemetry collector with Jaeger's storage and query) in
its own namespace, receiving OTLP over HTTP and gRPC, keeping traces in memory (bounded; lost
on restart: this is a window onto recent traffic, not an archive) and serving the query API and
UI on 16686 (reach it with ``kubectl port-forward``). Built from typed objects rather than a
chart: it is one Deployment and one Service, held to the same hardening as every pod here.

The image's release is the one ``scripts/jaeger-toolchain`` builds from the Go module, which
tests/traces runs: tests/infra checks the two pins agree.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.apps.v1 as apps
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta
from pydantic import BaseModel, ConfigDict, Field

from infra.component import child_options
from infra.labels import selector_labels, standard_labels
from infra.probes import http_probes
from infra.security import scratch_volume
from infra.sizes import Size
from infra.workload import container, object_meta, pod_spec, pod_template

RELEASE = "2.13.0"
"""Jaeger v2's release, built from the github.com/jaegertracing/jaeger module's v1.76.0 tag."""
IMAGE = f"jaegertracing/jaeger:{RELEASE}"
NAMESPACE = "tracing"
SERVICE = "jaeger"
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
QUERY_PORT = 16686
HEALTH_PORT = 13133
OTLP_HTTP_ENDPOINT = f"http://{SERVICE}.{NAMESPACE}.svc.cluster.local:{OTLP_HTTP_PORT}"
"""Where the service and Dapr send spans when the stack installs this add-on."""


class JaegerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    size: Size = Field(
        default="medium", description="Memory grows with the traces kept (at most 100,000)."
    )


class Jaeger(pulumi.ComponentResource):
    """Namespace, Deployment and Service; ``ready``: what the exporters' pods wait for."""

    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: JaegerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Jaeger", name, None, opts)
        child = child_options(self, opts)
        labels = standard_labels("jaeger", "tracing", "all-in-one", RELEASE)
        selector = selector_labels("jaeger", "tracing", "all-in-one")
        namespace = core.Namespace(
            f"{name}-namespace",
            metadata=meta.ObjectMetaArgs(
                name=NAMESPACE,
                labels={**labels, "pod-security.kubernetes.io/enforce": "restricted"},
            ),
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        # Its own account, granted nothing and mounting no token, like every workload's here:
        # the namespace's ``default`` would hand a later addition whatever it is granted.
        account = core.ServiceAccount(
            f"{name}-service-account",
            metadata=object_meta(SERVICE, namespace=NAMESPACE, labels=labels),
            automount_service_account_token=False,
            opts=in_namespace,
        )
        ports = {
            "otlp-grpc": OTLP_GRPC_PORT,
            "otlp-http": OTLP_HTTP_PORT,
            "query": QUERY_PORT,
            "health": HEALTH_PORT,
        }
        jaeger = container(
            "jaeger",
            image=IMAGE,
            size=args.size,
            # The all-in-one configuration the image starts with keeps up to 100,000 traces in
            # memory and listens on localhost unless told which address to listen on.
            env=[core.EnvVarArgs(name="JAEGER_LISTEN_HOST", value="0.0.0.0")],  # noqa: S104
            ports=[
                core.ContainerPortArgs(name=port, container_port=number)
                for port, number in ports.items()
            ],
            probes=http_probes(port="health", liveness_path="/status", readiness_path="/status"),
            volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],  # noqa: S108
        )
        deployment = apps.Deployment(
            f"{name}-deployment",
            metadata=object_meta(SERVICE, namespace=NAMESPACE, labels=labels),
            spec=apps.DeploymentSpecArgs(
                replicas=1,
                selector=meta.LabelSelectorArgs(match_labels=selector),
                template=pod_template(
                    labels=labels,
                    spec=pod_spec(
                        containers=[jaeger],
                        service_account_name=SERVICE,
                        volumes=[scratch_volume("tmp")],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, account]),
        )
        service = core.Service(
            f"{name}-service",
            metadata=object_meta(SERVICE, namespace=NAMESPACE, labels=labels),
            spec=core.ServiceSpecArgs(
                selector=selector,
                ports=[
                    core.ServicePortArgs(name=port, port=number, target_port=port)
                    for port, number in ports.items()
                ],
            ),
            opts=in_namespace,
        )
        self.ready = [deployment, service]
        self.register_outputs({"namespace": NAMESPACE, "endpoint": OTLP_HTTP_ENDPOINT})
