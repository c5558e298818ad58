"""Scheduled backups of PostgreSQL: a CronJob that writes ``pg_dump`` custom-format dumps to a
volume of their own (or a cloud's bucket, below) and keeps the newest ``keep``.

To a volume, the Job runs in the PostgreSQL server's own image, so its ``pg_dump`` is always
of the server's major version (pg_dump refuses a newer server; a newer pg_dump may write
archives the server's pg_restore cannot read): following the server's image keeps dump and
server in step when ``postgres.image`` changes.

The dumps follow ``todo-api backup``'s contract (``app/backup.py``), so ``todo-api restore
--from`` takes them: written as ``.<name>.partial``, flushed, renamed to
``<database>-<UTC time>.dump`` (a rename is atomic, so a failed or killed dump never leaves a
file that looks complete), mode 0600 as they hold password hashes, the path the last line of
the log. Old dumps are pruned only after a new one is complete, so at least one whole dump is
on the volume at any time.

The password reaches libpq as a ``.pgpass`` file in memory, written from the mounted credential
file: it is never in an environment variable or on a command line.

On the cloud stacks, with ``backup.objectStore``, dumps go to the cloud's object storage
instead: the cluster component makes the bucket (or blob container) and an identity allowed to
use it and nothing else (``infra/cluster/backup_store.py``), and the Job runs the service image's
``todo-api backup --to <url> --keep <keep>`` (``app/backup.py``: the object appears only once
the dump is complete, older ones are pruned after) as a ServiceAccount of its own that the
cloud's workload identity maps to that identity. No key is stored anywhere. The service image
carries the PostgreSQL client of the server's major version for this (``app/Dockerfile``'s
``PG_MAJOR``, which a test ties to ``postgres.image``; change both together).

Both ways log in as the backup role (``postgres.backupUser``, a member of ``pg_read_all_data``
that ``migrate`` provisions, ``app/db_roles.py``): it reads every table and writes none.

On the local control plane (KWOK nodes) no container runs: the CronJob, its volume and its
policy are admitted and stored, and a Job it starts is marked succeeded, but no dump is
written. The script is tested against a real PostgreSQL in ``tests/infra/test_backup.py``.
"""

from __future__ import annotations

from typing import Annotated

import pulumi
import pulumi_kubernetes.batch.v1 as batch
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.object_store import prefix_problem
from infra.component import ComponentArgs, SettingsModel, child_options
from infra.cron import CronSchedule
from infra.labels import PinnedImage, image_version, selector_labels, standard_labels
from infra.naming import child_name
from infra.secrets import DATABASE_BACKUP_URL_KEY, POSTGRES_BACKUP_PASSWORD_KEY, credential_files
from infra.security import DEFAULT_UID, scratch_volume
from infra.sizes import Size
from infra.stateful import StorageSettings, claim_spec
from infra.workload import container, object_meta, pod_spec, pod_template

POSTGRES_UID = 70
"""The ``postgres`` user of the Alpine PostgreSQL image, which the Job runs."""
BACKUP_DIR = "/backups"
PGPASS_DIR = "/run/backup"
TIME_ZONE = "Etc/UTC"
"""Schedules are read in UTC, whatever the controller-manager's own zone."""
COMPONENT = "backup"

SCRIPT = r"""set -eu
umask 077
printf '*:*:*:*:%s\n' "$(sed 's/[\\:]/\\&/g' "$PASSWORD_FILE")" > "$PGPASSFILE"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
final="$BACKUP_DIR/$PGDATABASE-$stamp.dump"
partial="$BACKUP_DIR/.$PGDATABASE-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT
trap 'exit 143' TERM INT
pg_dump --no-password --format=custom --file "$partial"
sync "$partial"
mv "$partial" "$final"
sync "$BACKUP_DIR"
ls -1 "$BACKUP_DIR" | grep -E "^$PGDATABASE-[0-9]{8}T[0-9]{6}Z\.dump\$" | sort -r \
  | tail -n +"$((BACKUP_KEEP + 1))" | while read -r old; do
    rm -f "$BACKUP_DIR/$old"
    echo "pruned $BACKUP_DIR/$old" >&2
  done
echo "$final"
"""
"""What the Job runs (POSIX sh: BusyBox in the Alpine image). Everything it needs arrives in
the environment: libpq's ``PG*`` variables (no password), ``PASSWORD_FILE``,
``BACKUP_DIR`` and ``BACKUP_KEEP``. Dumps sort by name in time order (fixed-width UTC stamps),
so the newest ``BACKUP_KEEP`` are kept; files that are not this database's dumps are left."""


def _backup_storage() -> StorageSettings:
    return StorageSettings(size_gi=10)


def _prefix(value: str) -> str:
    problem = prefix_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class ObjectStoreSettings(SettingsModel):
    """Dumps in the cloud's object storage (EKS: S3, GKE: Cloud Storage, AKS: Blob Storage), in
    a bucket the stack creates with the cluster."""

    bucket: str = Field(
        description="The bucket the stack creates (S3, GCS: names are global, 3-63 lower-case "
        "letters, digits and '-'), or on AKS the blob container in `account`.",
    )
    prefix: Annotated[str, AfterValidator(_prefix)] = Field(
        default="postgres", description="Key prefix the dumps go under, without slashes around."
    )
    account: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{3,24}$",
        description="AKS only, required there: the storage account the stack creates, 3-24 "
        "lower-case letters and digits, unique across Azure.",
    )
    expire_days: int = Field(
        default=35,
        ge=2,
        le=3650,
        description="The bucket's lifecycle rule deletes dumps older than this: a backstop "
        "behind `keep`, which must be shorter (35 = five weeks of daily dumps).",
    )
    noncurrent_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Versioning keeps a pruned or overwritten dump this long before the "
        "lifecycle rule deletes it: a window to undo a mistaken prune.",
    )


class BackupSettings(SettingsModel):
    """Scheduled dumps of the database (on in prod, off in dev and staging)."""

    enabled: bool = Field(default=False, description="Run the backup CronJob (prod: on).")
    schedule: CronSchedule = Field(
        default="30 2 * * *",
        description="When to dump: a five-field cron expression or a macro (`@daily`), in UTC.",
    )
    keep: int = Field(
        default=7,
        ge=1,
        le=1000,
        description="Dumps kept on the volume; older ones are deleted after each successful "
        "dump (7 = a week of daily dumps).",
    )
    storage: StorageSettings = Field(
        default_factory=_backup_storage,
        description="The dumps' volume (10Gi; prod: 50Gi): room for `keep` dumps plus one.",
    )
    size: Size = Field(default="small", description="Resources of the dump container.")
    timeout_minutes: int = Field(
        default=60,
        ge=5,
        le=1440,
        description="A dump running longer is stopped and counts as failed.",
    )
    retries: int = Field(
        default=2, ge=0, le=10, description="New attempts after a failed dump, per run."
    )
    object_store: ObjectStoreSettings | None = Field(
        default=None,
        description="Cloud stacks: write the dumps to a bucket the stack creates, with workload "
        "identity, instead of to `storage` (unset: the volume). Keys: `bucket`, `prefix` "
        "(`postgres`), `account` (AKS only), `expireDays` (35), `noncurrentDays` (7); see "
        "docs/operations.md.",
    )

    @model_validator(mode="after")
    def _expiry_after_keep(self) -> BackupSettings:
        store = self.object_store
        if store is not None and store.expire_days <= self.keep:
            raise ValueError(
                f"backup.objectStore.expireDays={store.expire_days} must exceed backup.keep="
                f"{self.keep}: the lifecycle rule would delete dumps that keep is meant to keep"
            )
        return self


class ObjectDestination(BaseModel):
    """Where a cloud stack's bucket takes the dumps, and what the Job's pod needs to reach it
    (the cloud's part: ``infra/cluster/backup_store.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="`s3://`, `gs://` or `az://` bucket and prefix.")
    env: dict[str, str] = Field(
        default_factory=dict, description="What the client needs besides workload identity."
    )
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels a workload identity webhook selects pods by."
    )


class BackupArgs(ComponentArgs):
    """The schedule and where the database is: the images, address and backup role."""

    settings: BackupSettings
    image: PinnedImage = Field(description="The PostgreSQL server's image: its pg_dump matches.")
    app_image: PinnedImage = Field(
        description="The service's image, which runs `todo-api backup` to an object store."
    )
    postgres_host: str
    postgres_port: int
    database: str
    user: str = Field(description="The backup role: reads every table, writes none.")
    secret_name: str
    service_account_name: str
    destination: ObjectDestination | None = Field(
        default=None, description="The cloud's bucket; None writes to a volume claim."
    )


def backup_names(instance: str) -> tuple[str, str]:
    """The CronJob's name and its volume claim's name."""
    return child_name(instance, COMPONENT), child_name(instance, "backups")


def _volume_dump(
    name: str, args: BackupArgs, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> tuple[core.ContainerArgs, list[core.VolumeArgs], int, pulumi.Output[str]]:
    """The postgres image's script writing to a claim of its own; the claim's name."""
    settings = args.settings
    _, claim_name = backup_names(args.instance)
    claim = core.PersistentVolumeClaim(
        f"{name}-claim",
        metadata=object_meta(claim_name, namespace=args.namespace, labels=labels),
        spec=claim_spec(settings.storage),
        opts=opts,
    )
    password = credential_files(COMPONENT, args.secret_name, (POSTGRES_BACKUP_PASSWORD_KEY,))
    (password_file,) = (variable.value for variable in password.env)
    dump = container(
        "dump",
        image=args.image,
        size=settings.size,
        uid=POSTGRES_UID,
        command=["sh", "-c", SCRIPT],
        env=[
            core.EnvVarArgs(name="PGHOST", value=args.postgres_host),
            core.EnvVarArgs(name="PGPORT", value=str(args.postgres_port)),
            core.EnvVarArgs(name="PGUSER", value=args.user),
            core.EnvVarArgs(name="PGDATABASE", value=args.database),
            core.EnvVarArgs(name="PGPASSFILE", value=f"{PGPASS_DIR}/pgpass"),
            core.EnvVarArgs(name="PASSWORD_FILE", value=password_file),
            core.EnvVarArgs(name="BACKUP_DIR", value=BACKUP_DIR),
            core.EnvVarArgs(name="BACKUP_KEEP", value=str(settings.keep)),
        ],
        volume_mounts=[
            core.VolumeMountArgs(name="backups", mount_path=BACKUP_DIR),
            core.VolumeMountArgs(name="pgpass", mount_path=PGPASS_DIR),
            password.mount,
        ],
    )
    volumes = [
        core.VolumeArgs(
            name="backups",
            persistent_volume_claim=core.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=claim.metadata.name
            ),
        ),
        scratch_volume("pgpass", size_limit="1Mi", memory=True),
        password.volume,
    ]
    return dump, volumes, POSTGRES_UID, claim.metadata.name


def _object_dump(
    args: BackupArgs, destination: ObjectDestination
) -> tuple[core.ContainerArgs, list[core.VolumeArgs], int]:
    """The service image's ``todo-api backup`` streaming into the bucket."""
    settings = args.settings
    login = credential_files(COMPONENT, args.secret_name, (DATABASE_BACKUP_URL_KEY,))
    dump = container(
        "dump",
        image=args.app_image,
        size=settings.size,
        command=["todo-api", "backup", "--to", destination.url, "--keep", str(settings.keep)],
        env=[
            *login.env,
            *(core.EnvVarArgs(name=key, value=value) for key, value in destination.env.items()),
        ],
        volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp"), login.mount],  # noqa: S108 - an emptyDir
    )
    return dump, [scratch_volume("tmp"), login.volume], DEFAULT_UID


class Backup(pulumi.ComponentResource):
    """The CronJob that dumps the database to its volume claim, or to the cloud's bucket;
    ``selector`` picks its pods."""

    selector: dict[str, str]
    cron_job_name: str

    def __init__(
        self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Backup", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        cron_job_name, _ = backup_names(args.instance)
        destination = args.destination
        image = args.app_image if destination else args.image
        labels = standard_labels(COMPONENT, args.instance, COMPONENT, image_version(image))
        claim: pulumi.Output[str] | None = None
        if destination is None:
            dump, volumes, uid, claim = _volume_dump(name, args, labels, child)
        else:
            dump, volumes, uid = _object_dump(args, destination)
        job = batch.JobSpecArgs(
            backoff_limit=settings.retries,
            active_deadline_seconds=settings.timeout_minutes * 60,
            template=pod_template(
                labels={**labels, **(destination.pod_labels if destination else {})},
                spec=pod_spec(
                    containers=[dump],
                    service_account_name=args.service_account_name,
                    volumes=volumes,
                    uid=uid,
                    # A failed attempt's pod stays for its log; the Job makes a new one.
                    restart_policy="Never",
                ),
            ),
        )
        batch.CronJob(
            f"{name}-cronjob",
            metadata=object_meta(cron_job_name, namespace=args.namespace, labels=labels),
            spec=batch.CronJobSpecArgs(
                schedule=settings.schedule,
                time_zone=TIME_ZONE,
                # Two dumps at once would compete for the volume and the server.
                concurrency_policy="Forbid",
                # A run missed while the controller was away still happens within the hour.
                starting_deadline_seconds=3600,
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=3,
                job_template=batch.JobTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=labels), spec=job
                ),
            ),
            opts=child,
        )
        self.selector = selector_labels(COMPONENT, args.instance, COMPONENT)
        self.cron_job_name = cron_job_name
        self.register_outputs(
            {
                "cron_job": cron_job_name,
                "claim": claim,
                "destination": destination.url if destination else None,
            }
        )
