"""The API: ``todo-api serve`` behind a ClusterIP Service, with its schema migrated first.

Start-up order is enforced inside the pod, where it cannot be skipped: an init container waits
until PostgreSQL accepts connections, a second one runs ``todo-api migrate`` (Alembic upgrade
head), and only then does the API container start. Several pods rolling out at once may each run
the migration; Alembic's version table makes the second run a no-op.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field

from infra.component import child_options
from infra.dapr.settings import DaprSettings
from infra.dapr.sidecar import sidecar_annotations
from infra.deployment import (
    AppLabels,
    AppWorkloadArgs,
    ServedApp,
    app_workload,
)
from infra.labels import PinnedImage
from infra.probes import http_probes
from infra.secrets import (
    DAPR_APP_TOKEN_KEY,
    DATABASE_ADMIN_URL_KEY,
    DATABASE_BACKUP_URL_KEY,
    DATABASE_MONITOR_URL_KEY,
    DATABASE_URL_KEY,
    JWT_SECRET_KEY,
    REDIS_URL_KEY,
    credential_files,
)
from infra.security import scratch_volume
from infra.sizes import Size
from infra.workload import HTTP_PORT_NAME, container, scrape_annotations

API_PORT = 8000
"""The port ``todo-api serve`` listens on; /healthz, /readyz and /metrics live there too."""
SERVICE_PORT = 80
APP_NAME = "todo-api"
"""The app (and Dapr app id) of the API; the relay runs the same app in another role."""


API_SECRETS: tuple[str, ...] = (
    DATABASE_URL_KEY,
    REDIS_URL_KEY,
    JWT_SECRET_KEY,
    DAPR_APP_TOKEN_KEY,
)
"""The credentials the API reads: it signs tokens, caches and checks Dapr deliveries."""
MIGRATE_SECRETS: tuple[str, ...] = (
    DATABASE_ADMIN_URL_KEY,
    DATABASE_URL_KEY,
    DATABASE_MONITOR_URL_KEY,
    DATABASE_BACKUP_URL_KEY,
)
"""The migration needs the database and nothing else: the administrator's URL to create the
roles and migrate, and the app's, the exporter's and the backup's, whose users and passwords
are the login roles it creates."""


def app_env(config_map_name: str) -> list[core.EnvFromSourceArgs]:
    """The service's non-secret settings: the ConfigMap holds ``TODO_*`` keys, one per variable."""
    return [
        core.EnvFromSourceArgs(config_map_ref=core.ConfigMapEnvSourceArgs(name=config_map_name))
    ]


class BackendArgs(AppWorkloadArgs):
    """The API Deployment: image, settings sources, database to wait for and Dapr."""

    config_map_name: str = Field(description="ConfigMap with the non-secret `TODO_*` settings.")
    secret_name: str = Field(
        description="Secret with the secret `TODO_*` settings; the API reads `API_SECRETS` of "
        "it, the migration `MIGRATE_SECRETS`.",
    )
    postgres_host: str = Field(description="PostgreSQL client Service host the init waits for.")
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_user: str = Field(
        default="todo",
        description="Role named in the readiness check; `pg_isready` needs one because the "
        "non-root uid has no passwd entry to default to.",
    )
    wait_image: PinnedImage = Field(
        description="Pinned image with `pg_isready` (the PostgreSQL image the database runs)."
    )
    init_size: Size = Field(default="micro", description="Resources of each init container.")
    dapr: DaprSettings = Field(default_factory=DaprSettings, description="Dapr sidecar settings.")
    dapr_config_name: str = Field(description="Dapr Configuration the sidecar uses.")
    dapr_app_token_secret: str | None = Field(
        default=None,
        description="Secret whose key `token` the sidecar sends as `dapr-api-token`; the API "
        "reads the same value as TODO_DAPR_APP_TOKEN. Unset: the sidecar sends none.",
    )
    startup_seconds: int = Field(
        default=60,
        ge=0,
        le=600,
        description="Time the API may take to answer /healthz after start before liveness counts.",
    )


class Backend(ServedApp):
    """The API Deployment, its Service and (with more than one replica) its PDB."""

    def __init__(
        self, name: str, args: BackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Backend", name, None, opts)
        child = child_options(self, opts)
        names = AppLabels(args, app=APP_NAME, component="backend")
        env_from = app_env(args.config_map_name)
        tmp = core.VolumeMountArgs(name="tmp", mount_path="/tmp")  # noqa: S108  # an emptyDir
        migrate_secrets = credential_files("migrate", args.secret_name, MIGRATE_SECRETS)
        api_secrets = credential_files("api", args.secret_name, API_SECRETS)

        wait = container(
            "wait-for-postgres",
            image=args.wait_image,
            size=args.init_size,
            command=[
                "sh",
                "-c",
                'until pg_isready -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -t 3; '
                "do echo waiting for PostgreSQL; sleep 2; done",
            ],
            env=[
                core.EnvVarArgs(name="PGHOST", value=args.postgres_host),
                core.EnvVarArgs(name="PGPORT", value=str(args.postgres_port)),
                core.EnvVarArgs(name="PGUSER", value=args.postgres_user),
            ],
        )
        migrate = container(
            "migrate",
            image=args.image,
            size=args.init_size,
            command=["todo-api", "migrate"],
            env=migrate_secrets.env,
            env_from=env_from,
            volume_mounts=[tmp, migrate_secrets.mount],
        )
        api = container(
            "api",
            image=args.image,
            size=args.size,
            # Binding all interfaces is what a pod's only container must do to be reachable.
            command=["todo-api", "serve", "--host", "0.0.0.0", "--port", str(API_PORT)],  # noqa: S104
            ports=[
                core.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=API_PORT, protocol="TCP")
            ],
            env=api_secrets.env,
            env_from=env_from,
            volume_mounts=[tmp, api_secrets.mount],
            probes=http_probes(
                port=HTTP_PORT_NAME,
                liveness_path="/healthz",
                readiness_path="/readyz",
                startup_seconds=args.startup_seconds,
            ),
        )
        annotations = {
            **scrape_annotations(API_PORT),
            **sidecar_annotations(
                args.dapr,
                app_id=APP_NAME,
                app_port=API_PORT,
                config_name=args.dapr_config_name,
                app_token_secret=args.dapr_app_token_secret,
            ),
        }
        deployment = app_workload(
            name,
            args=args,
            names=names,
            containers=[api],
            init_containers=[wait, migrate],
            volumes=[scratch_volume("tmp"), migrate_secrets.volume, api_secrets.volume],
            pod_annotations=annotations,
            opts=child,
        )
        self._serve(
            name,
            args=args,
            names=names,
            deployment=deployment,
            service_port=SERVICE_PORT,
            opts=child,
        )
