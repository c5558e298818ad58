"""The event relay: ``todo-api relay`` moves outbox rows to Kafka, in its own Deployment.

It runs apart from the API so publishing keeps its own pace and scale, and several relays may
run at once (the service locks outbox rows, so no row is published twice). It serves no
traffic, so it has no Service and no Dapr sidecar; it serves only its metrics
(``TODO_METRICS_PORT``), which Prometheus scrapes.

Probes are HTTP requests to that metrics server. They prove the process lives and its threads
run, not that the relay loop makes progress: nothing cheap can, since the loop keeps going
through broker and database outages by design. The former probe, a Python process opening a
PostgreSQL connection, proved no more about the loop (it ran beside it) and cost about 0.3 s of
CPU per run: with readiness every 10 s and liveness every 20 s, some 45m CPU per pod, half of a
``small`` relay's request. It also failed liveness during a database outage, restarting relays
that recover by themselves, just as restarting them would not bring Kafka back. Readiness has
no Service to gate, only rollouts and the PDB, and the API's init containers already hold a
rollout until PostgreSQL answers. A stalled loop shows in the metrics instead: the age of the
oldest unpublished event, ``todo_outbox_oldest_age_seconds``, grows (alert ``TodoOutboxStale``).

The probe asks only for ``todo_events_published``: an unfiltered scrape also counts the outbox
backlog in PostgreSQL, which would make each probe a query and its answer time depend on the
database (prometheus_client serves a ``name[]`` filter and skips the other collectors).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field

from infra.backend import APP_NAME, app_env
from infra.component import child_options
from infra.deployment import AppLabels, AppWorkloadArgs, app_workload
from infra.probes import http_probes
from infra.secrets import DATABASE_URL_KEY, credential_files
from infra.security import scratch_volume
from infra.workload import METRICS_PORT_NAME, container, scrape_annotations

METRICS_PORT = 9102
"""Where ``todo-api relay`` serves /metrics (``TODO_METRICS_PORT``)."""
PROBE_PATH = "/metrics?name[]=todo_events_published_total"
"""A scrape of one in-memory counter: answers without touching the database."""
RELAY_SECRETS: tuple[str, ...] = (DATABASE_URL_KEY,)
"""The relay reads the outbox and publishes: the database URL, never the JWT key."""


class RelayArgs(AppWorkloadArgs):
    """The relay Deployment: the API's image and settings, another command."""

    config_map_name: str = Field(description="ConfigMap with the non-secret `TODO_*` settings.")
    secret_name: str = Field(
        description="Secret with the secret `TODO_*` settings; the relay reads `RELAY_SECRETS`."
    )
    startup_seconds: int = Field(
        default=60, ge=0, le=600, description="Time the metrics server may take to answer."
    )


class Relay(pulumi.ComponentResource):
    """The relay Deployment and (with more than one replica) its PDB."""

    deployment_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: RelayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Relay", name, None, opts)
        child = child_options(self, opts)
        names = AppLabels(args, app=APP_NAME, component="relay")
        credentials = credential_files("relay", args.secret_name, RELAY_SECRETS)
        relay = container(
            "relay",
            image=args.image,
            size=args.size,
            command=["todo-api", "relay"],
            ports=[
                core.ContainerPortArgs(
                    name=METRICS_PORT_NAME, container_port=METRICS_PORT, protocol="TCP"
                )
            ],
            env=[
                core.EnvVarArgs(name="TODO_METRICS_PORT", value=str(METRICS_PORT)),
                *credentials.env,
            ],
            env_from=app_env(args.config_map_name),
            volume_mounts=[
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108  # an emptyDir
                credentials.mount,
            ],
            probes=http_probes(
                port=METRICS_PORT_NAME,
                liveness_path=PROBE_PATH,
                readiness_path=PROBE_PATH,
                startup_seconds=args.startup_seconds,
            ),
        )
        deployment = app_workload(
            name,
            args=args,
            names=names,
            containers=[relay],
            volumes=[scratch_volume("tmp"), credentials.volume],
            pod_annotations=scrape_annotations(METRICS_PORT),
            opts=child,
        )

        self.deployment_name = deployment.metadata.apply(lambda m: m.name or "")
        self.selector = names.selector
        self.register_outputs({"deployment_name": self.deployment_name})
