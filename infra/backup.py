"""Scheduled backups of PostgreSQL: a CronJob that writes ``pg_dump`` custom-format dumps to a
volume of their own and keeps the newest ``keep``.

The Job runs in the PostgreSQL server's own image, so its ``pg_dump`` is always of the server's
major version: pg_dump refuses a newer server, and the service image (Debian bookworm) only
has PostgreSQL 15's client. Moving the service image to a newer Debian would give a *newer*
pg_dump, whose archives PostgreSQL 16's pg_restore may not read; following the server's image
keeps dump and server in step when ``postgres.image`` changes.

The dumps follow ``todo-api backup``'s contract (``app/backup.py``), so ``todo-api restore
--from`` takes them: written as ``.<name>.partial``, flushed, renamed to
``<database>-<UTC time>.dump`` (a rename is atomic, so a failed or killed dump never leaves a
file that looks complete), mode 0600 as they hold password hashes, the path the last line of
the log. Old dumps are pruned only after a new one is complete, so at least one whole dump is
on the volume at any time.

It logs in as the administrator (``postgres.user``): a dump reads the sequences' positions,
which the app role may not. The password reaches libpq as a ``.pgpass`` file in memory, written
from the mounted credential file: it is never in an environment variable or on a command line.

On the local control plane (KWOK nodes) no container runs: the CronJob, its volume and its
policy are admitted and stored, and a Job it starts is marked succeeded, but no dump is
written. The script is tested against a real PostgreSQL in ``tests/infra/test_backup.py``.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.batch.v1 as batch
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta
from pydantic import Field

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.cron import CronSchedule
from infra.labels import PinnedImage, image_version, selector_labels, standard_labels
from infra.naming import child_name
from infra.secrets import POSTGRES_PASSWORD_KEY, credential_files
from infra.security import scratch_volume
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
printf '*:*:*:*:%s\n' "$(sed 's/[\\:]/\\&/g' "$POSTGRES_PASSWORD_FILE")" > "$PGPASSFILE"
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
the environment: libpq's ``PG*`` variables (no password), ``POSTGRES_PASSWORD_FILE``,
``BACKUP_DIR`` and ``BACKUP_KEEP``. Dumps sort by name in time order (fixed-width UTC stamps),
so the newest ``BACKUP_KEEP`` are kept; files that are not this database's dumps are left."""


def _backup_storage() -> StorageSettings:
    return StorageSettings(size_gi=10)


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


class BackupArgs(ComponentArgs):
    """The schedule and where the database is: the server's image, address and administrator."""

    settings: BackupSettings
    image: PinnedImage = Field(description="The PostgreSQL server's image: its pg_dump matches.")
    postgres_host: str
    postgres_port: int
    database: str
    user: str = Field(description="The administrator, who may read every object.")
    secret_name: str
    service_account_name: str


def backup_names(instance: str) -> tuple[str, str]:
    """The CronJob's name and its volume claim's name."""
    return child_name(instance, COMPONENT), child_name(instance, "backups")


class Backup(pulumi.ComponentResource):
    """The dumps' volume claim and the CronJob that fills it; ``selector`` picks its pods."""

    selector: dict[str, str]
    cron_job_name: str

    def __init__(
        self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Backup", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        cron_job_name, claim_name = backup_names(args.instance)
        labels = standard_labels(COMPONENT, args.instance, COMPONENT, image_version(args.image))
        claim = core.PersistentVolumeClaim(
            f"{name}-claim",
            metadata=object_meta(claim_name, namespace=args.namespace, labels=labels),
            spec=claim_spec(settings.storage),
            opts=child,
        )
        password = credential_files(COMPONENT, args.secret_name, (POSTGRES_PASSWORD_KEY,))
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
                *password.env,
                core.EnvVarArgs(name="BACKUP_DIR", value=BACKUP_DIR),
                core.EnvVarArgs(name="BACKUP_KEEP", value=str(settings.keep)),
            ],
            volume_mounts=[
                core.VolumeMountArgs(name="backups", mount_path=BACKUP_DIR),
                core.VolumeMountArgs(name="pgpass", mount_path=PGPASS_DIR),
                password.mount,
            ],
        )
        job = batch.JobSpecArgs(
            backoff_limit=settings.retries,
            active_deadline_seconds=settings.timeout_minutes * 60,
            template=pod_template(
                labels=labels,
                spec=pod_spec(
                    containers=[dump],
                    service_account_name=args.service_account_name,
                    volumes=[
                        core.VolumeArgs(
                            name="backups",
                            persistent_volume_claim=core.PersistentVolumeClaimVolumeSourceArgs(
                                claim_name=claim.metadata.name
                            ),
                        ),
                        scratch_volume("pgpass", size_limit="1Mi", memory=True),
                        password.volume,
                    ],
                    uid=POSTGRES_UID,
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
        self.register_outputs({"cron_job": cron_job_name, "claim": claim.metadata.name})
