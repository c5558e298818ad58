"""The event relay: ``todo-api relay`` moves outbox rows to Kafka, in its own Deployment.

It runs apart from the API so publishing keeps its own pace and scale, and several relays may
run at once (the service locks outbox rows, so no row is published twice). It serves no
traffic, so it has no Service and no Dapr sidecar.

The relay exposes no HTTP endpoint, so its probes run a command: a connection to PostgreSQL,
which the relay cannot work without. Kafka is left out on purpose: when the broker is away the
relay keeps rows and retries, and restarting it would not bring the broker back.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field

from infra.backend import APP_NAME, app_env
from infra.component import child_options
from infra.deployment import AppLabels, AppWorkloadArgs, app_budget, app_deployment, spread_affinity
from infra.probes import exec_probes
from infra.security import scratch_volume
from infra.workload import container, pod_spec

DATABASE_CHECK = [
    "python",
    "-c",
    "import os, sqlalchemy; "
    "sqlalchemy.create_engine(os.environ['TODO_DATABASE_URL']).connect().close()",
]
"""Open and close one database connection with the service's own driver and URL."""


class RelayArgs(AppWorkloadArgs):
    """The relay Deployment: the API's image and settings, another command."""

    config_map_name: str = Field(description="ConfigMap with the non-secret `TODO_*` settings.")
    secret_name: str = Field(description="Secret with the secret `TODO_*` settings.")
    startup_seconds: int = Field(
        default=60, ge=0, le=600, description="Time the first database check may take."
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
        relay = container(
            "relay",
            image=args.image,
            size=args.size,
            command=["todo-api", "relay"],
            env_from=app_env(args.config_map_name, args.secret_name),
            volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],  # noqa: S108  # an emptyDir
            probes=exec_probes(
                liveness=DATABASE_CHECK,
                readiness=DATABASE_CHECK,
                startup_seconds=args.startup_seconds,
            ),
        )
        spec = pod_spec(
            containers=[relay],
            service_account_name=args.service_account_name,
            volumes=[scratch_volume("tmp")],
            affinity=spread_affinity(args.spread, names.selector),
        )
        deployment = app_deployment(
            f"{name}-deployment", args=args, names=names, pod_spec=spec, opts=child
        )
        app_budget(f"{name}-pdb", args=args, names=names, opts=child)

        self.deployment_name = deployment.metadata.apply(lambda m: m.name or "")
        self.selector = names.selector
        self.register_outputs({"deployment_name": self.deployment_name})
