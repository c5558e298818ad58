"""PostgreSQL 16: one primary in a StatefulSet, its volume, a metrics sidecar and two Services.

One primary, on purpose. More pods of the official image would be separate databases, not
replicas; streaming replication and failover need an operator (CloudNativePG) or a managed
database, which a later stack may swap in behind the same client Service name. So there is
no replica count to set and no PodDisruptionBudget (a budget on one pod would block drains).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field, field_validator, model_validator

from infra.component import child_options
from infra.labels import PinnedImage
from infra.probes import exec_probes
from infra.secrets import POSTGRES_MONITOR_PASSWORD_KEY, POSTGRES_PASSWORD_KEY, credential_files
from infra.security import scratch_volume
from infra.sizes import Size
from infra.stateful import (
    DataServiceArgs,
    DataServiceSettings,
    SingleInstance,
    StatefulNames,
    StorageSettings,
    metrics_sidecar,
)
from infra.workload import container, pod_spec

POSTGRES_PORT = 5432
EXPORTER_PORT = 9187
POSTGRES_UID = 70
"""The ``postgres`` user of the Alpine image; the data directory must belong to it."""
EXPORTER_UID = 65534
DATA_DIR = "/var/lib/postgresql/data"


class PostgresSettings(DataServiceSettings):
    """What a stack may set about PostgreSQL."""

    image: PinnedImage = Field(
        default="postgres:16.9-alpine", description="PostgreSQL 16 image, pinned."
    )
    exporter_image: PinnedImage = Field(
        default="quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
        description="Prometheus postgres_exporter sidecar image, pinned.",
    )
    size: Size = Field(default="small", description="Resources of the database container.")
    storage: StorageSettings = Field(
        default_factory=StorageSettings, description="Data volume (prod: 50Gi)."
    )
    database: str = Field(default="todo", description="Database the service uses.")
    user: str = Field(
        default="todo",
        description="The administrator the server is initialised with (superuser, owner of the "
        "database); only the migration step logs in as it.",
    )
    app_user: str = Field(
        default="todo_app",
        description="The role the API and the relay connect as: rows only (SELECT, INSERT, "
        "UPDATE, DELETE), no DDL; the migration step creates it (app/db_roles.py).",
    )
    migration_role: str = Field(
        default="todo_migrator",
        description="The role, without login, that owns the schema; migrations run as it.",
    )
    monitor_user: str = Field(
        default="todo_monitor",
        description="The role postgres_exporter logs in as: a member of pg_monitor, no row of "
        "the app's tables; the migration step creates it.",
    )
    backup_user: str = Field(
        default="todo_backup",
        description="The role the backup CronJob dumps as: a member of pg_read_all_data, it "
        "reads every table and writes none; the migration step creates it.",
    )

    @field_validator(
        "database", "user", "app_user", "migration_role", "monitor_user", "backup_user"
    )
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.isidentifier() or not value.islower():
            raise ValueError(f"{value!r} must be a lower-case identifier (letters, digits, '_')")
        return value

    @model_validator(mode="after")
    def _one_role_per_job(self) -> PostgresSettings:
        names = {
            "user": self.user,
            "appUser": self.app_user,
            "migrationRole": self.migration_role,
            "monitorUser": self.monitor_user,
            "backupUser": self.backup_user,
        }
        if len(set(names.values())) < len(names):
            raise ValueError(
                f"user, appUser, migrationRole, monitorUser and backupUser must be five roles "
                f"(got {names}): no job may log in as the role that owns or administers the "
                "schema, or as another job's"
            )
        return self


class PostgresArgs(DataServiceArgs):
    settings: PostgresSettings


def postgres_names(instance: str, image: str) -> StatefulNames:
    return StatefulNames(instance=instance, app="postgresql", component="postgres", image=image)


class Postgres(SingleInstance):
    """The database server; ``host``/``port`` are what the service's URL points at."""

    def __init__(
        self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Postgres", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        names = postgres_names(args.instance, settings.image)
        # Passwords as files: the image reads POSTGRES_PASSWORD_FILE (the administrator's), the
        # exporter DATA_SOURCE_PASS_FILE (the monitoring role's, nothing more).
        password = credential_files("postgres", args.secret_name, (POSTGRES_PASSWORD_KEY,))
        monitor = credential_files("exporter", args.secret_name, (POSTGRES_MONITOR_PASSWORD_KEY,))
        (monitor_file,) = (variable.value for variable in monitor.env)
        ready = ["pg_isready", "-h", "127.0.0.1", "-U", settings.user, "-d", settings.database]
        database = container(
            "postgres",
            image=settings.image,
            size=settings.size,
            uid=POSTGRES_UID,
            ports=[core.ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT)],
            env=[
                core.EnvVarArgs(name="POSTGRES_USER", value=settings.user),
                core.EnvVarArgs(name="POSTGRES_DB", value=settings.database),
                *password.env,
                # A subdirectory, so initdb does not trip over the volume's lost+found.
                core.EnvVarArgs(name="PGDATA", value=f"{DATA_DIR}/pgdata"),
            ],
            volume_mounts=[
                core.VolumeMountArgs(name="data", mount_path=DATA_DIR),
                core.VolumeMountArgs(name="run", mount_path="/var/run/postgresql"),
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 - an emptyDir
                password.mount,
            ],
            probes=exec_probes(liveness=ready, readiness=ready, startup_seconds=180),
        )
        exporter = metrics_sidecar(
            settings,
            uid=EXPORTER_UID,
            port=EXPORTER_PORT,
            env=[
                core.EnvVarArgs(
                    name="DATA_SOURCE_URI",
                    value=f"127.0.0.1:{POSTGRES_PORT}/{settings.database}?sslmode=disable",
                ),
                # Until the migration step has made this role, scrapes report pg_up 0.
                core.EnvVarArgs(name="DATA_SOURCE_USER", value=settings.monitor_user),
                core.EnvVarArgs(name="DATA_SOURCE_PASS_FILE", value=monitor_file),
            ],
            volume_mounts=[monitor.mount],
            health_path="/",
        )
        spec = pod_spec(
            containers=[database, exporter],
            service_account_name=args.service_account_name,
            volumes=[
                scratch_volume("run", memory=True),
                scratch_volume("tmp"),
                password.volume,
                monitor.volume,
            ],
            uid=POSTGRES_UID,
            # A clean shutdown writes a checkpoint; being killed means crash recovery on start.
            termination_grace_period_seconds=60,
        )
        self._single_instance(
            name,
            names=names,
            namespace=args.namespace,
            spec=spec,
            storage=settings.storage,
            port_name="postgres",
            port=POSTGRES_PORT,
            metrics_port=EXPORTER_PORT,
            opts=child,
        )
