"""The backup CronJob: its settings, its spec under mocks, who may reach PostgreSQL for it, and
its script run against the real PostgreSQL of scripts/services."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.backup import dump_names, restore
from app.pg_tools import Connection, program, server_major
from infra.backup import SCRIPT, Backup, BackupArgs, BackupSettings, ObjectDestination
from infra.cron import check_schedule, runs_every_day
from infra.postgres import PostgresSettings
from stacks.render import Rendered
from tests.infra.manifests import build, named, of_kind, pod_spec

NS = "todo-app"
POSTGRES_IMAGE = "postgres:16.9-alpine"
APP_IMAGE = "registry.example.com/todo-api:1.2.3"


def _args(destination: ObjectDestination | None = None, **settings: Any) -> BackupArgs:
    return BackupArgs(
        namespace=NS,
        instance="todo",
        settings=BackupSettings(enabled=True, **settings),
        image=POSTGRES_IMAGE,
        app_image=APP_IMAGE,
        postgres_host=f"todo-postgres.{NS}.svc.cluster.local",
        postgres_port=5432,
        database="todo",
        user="todo_backup",
        secret_name="todo-credentials",
        service_account_name="todo-backup",
        destination=destination,
    )


def _objects(destination: ObjectDestination | None = None, **settings: Any) -> list[dict[str, Any]]:
    return build(lambda: Backup("b", _args(destination, **settings)))


def _cron_job(**settings: Any) -> dict[str, Any]:
    (cron_job,) = of_kind(_objects(**settings), "CronJob")
    return cron_job


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


# Settings


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("60 2 * * *", r"minute 60 is outside 0-59"),
        ("0 2 32 * *", r"day of month 32 is outside 1-31"),
        ("0 2 * 13 *", r"month 13 is outside 1-12"),
        ("0 2 * * funday", r"day of week field has 'funday', not a number or one of sun"),
        ("0 2 * *", r"has 4 fields"),
        ("0 5-1 * * *", r"hour range '5-1' runs backwards"),
        ("*/0 * * * *", r"minute step must be at least 1"),
        ("0 2 * * * 2026", r"has 6 fields"),
    ],
)
def test_a_bad_schedule_names_the_field_at_fault(schedule: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BackupSettings(schedule=schedule)


@pytest.mark.parametrize(
    "schedule", ["30 2 * * *", "*/15 * * * *", "0 0,12 * * *", "0 3 * JAN-DEC SUN-SAT", "@daily"]
)
def test_valid_schedules_are_kept(schedule: str) -> None:
    assert BackupSettings(schedule=schedule).schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "daily"),
    [
        ("30 2 * * *", True),
        ("@hourly", True),
        ("0 2 * * 0-6", True),
        ("0 2 * * 7,1-6", True),  # Sunday written as 7
        ("0 2 * * 1-5", False),  # Friday to Monday is 72 h
        ("0 2 1 * *", False),
        ("0 2 * 1-11 *", False),
        ("@weekly", False),
    ],
)
def test_which_schedules_run_every_day(schedule: str, daily: bool) -> None:
    assert runs_every_day(schedule) is daily


def test_a_schedule_is_stored_with_single_spaces() -> None:
    assert check_schedule(" 30  2 * * * ") == "30 2 * * *"


@pytest.mark.parametrize(("keep", "ok"), [(0, False), (1, True), (1000, True), (1001, False)])
def test_keep_is_bounded(keep: int, ok: bool) -> None:
    if ok:
        assert BackupSettings(keep=keep).keep == keep
    else:
        with pytest.raises(ValidationError, match="keep"):
            BackupSettings(keep=keep)


# The CronJob and its volume


def test_cron_job_runs_on_the_schedule_in_utc_one_at_a_time() -> None:
    spec = _cron_job(schedule="15 3 * * *")["spec"]
    assert spec["schedule"] == "15 3 * * *"
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600
    assert spec["successfulJobsHistoryLimit"] == spec["failedJobsHistoryLimit"] == 3


def test_job_has_a_deadline_and_retries_with_new_pods() -> None:
    job = _cron_job(timeout_minutes=90, retries=4)["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 90 * 60
    assert job["backoffLimit"] == 4
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_dump_runs_in_the_servers_own_image_so_pg_dump_matches_it() -> None:
    (container,) = pod_spec(_cron_job())["containers"]
    assert container["image"] == POSTGRES_IMAGE
    assert container["command"] == ["sh", "-c", SCRIPT]


def test_dump_connects_as_the_backup_role_to_the_database_service() -> None:
    (container,) = pod_spec(_cron_job(keep=9))["containers"]
    env = _env(container)
    assert env["PGHOST"] == f"todo-postgres.{NS}.svc.cluster.local"
    assert env["PGPORT"] == "5432"
    assert env["PGUSER"] == "todo_backup"
    assert env["PGDATABASE"] == "todo"
    assert env["BACKUP_KEEP"] == "9"
    assert env["BACKUP_DIR"] == "/backups"


def test_password_is_a_mounted_file_and_pgpass_lives_in_memory() -> None:
    spec = pod_spec(_cron_job())
    (container,) = spec["containers"]
    env = _env(container)
    assert "PGPASSWORD" not in env
    assert not [e for e in container["env"] if "valueFrom" in e]
    assert env["PASSWORD_FILE"] == "/var/run/secrets/todo/POSTGRES_BACKUP_PASSWORD"
    volumes = {v["name"]: v for v in spec["volumes"]}
    secret = volumes["credentials-backup"]["secret"]
    assert secret["secretName"] == "todo-credentials"
    assert [item["key"] for item in secret["items"]] == ["POSTGRES_BACKUP_PASSWORD"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["PGPASSFILE"].startswith(mounts["pgpass"] + "/")
    assert volumes["pgpass"]["emptyDir"]["medium"] == "Memory"


def test_pod_is_hardened_and_runs_as_the_images_postgres_user() -> None:
    spec = pod_spec(_cron_job())
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["runAsUser"] == spec["securityContext"]["runAsUser"] == 70
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["securityContext"]["fsGroup"] == 70  # the volume is writable by that user
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "todo-backup"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_dumps_go_to_a_claim_of_their_own() -> None:
    objects = _objects(storage={"sizeGi": 30, "storageClass": "fast"})
    claim = named(objects, "PersistentVolumeClaim", "todo-backups")
    assert claim["spec"]["resources"]["requests"]["storage"] == "30Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    spec = pod_spec(named(objects, "CronJob", "todo-backup"))
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "todo-backups"


def test_pods_carry_the_selector_the_network_policy_admits() -> None:
    cron_job = _cron_job()
    labels = cron_job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    selector = {
        "app.kubernetes.io/name": "backup",
        "app.kubernetes.io/instance": "todo",
        "app.kubernetes.io/component": "backup",
    }
    assert selector.items() <= labels.items()
    assert labels["app.kubernetes.io/version"] == "16.9-alpine"


# To a cloud's bucket

BUCKET = ObjectDestination(
    url="az://todo-backups/postgres",
    env={"AZURE_STORAGE_ACCOUNT_NAME": "todoprodbackups"},
    pod_labels={"azure.workload.identity/use": "true"},
)


def test_to_a_bucket_the_service_image_streams_the_dump_with_no_claim() -> None:
    objects = _objects(BUCKET, keep=5)
    assert not of_kind(objects, "PersistentVolumeClaim")
    (cron_job,) = of_kind(objects, "CronJob")
    spec = pod_spec(cron_job)
    (container,) = spec["containers"]
    assert container["image"] == APP_IMAGE
    assert container["command"] == [
        "todo-api",
        "backup",
        "--to",
        "az://todo-backups/postgres",
        "--keep",
        "5",
    ]
    assert _env(container) == {
        "TODO_DATABASE_BACKUP_URL_FILE": "/var/run/secrets/todo/TODO_DATABASE_BACKUP_URL",
        "AZURE_STORAGE_ACCOUNT_NAME": "todoprodbackups",
    }
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert [i["key"] for i in volumes["credentials-backup"]["secret"]["items"]] == [
        "TODO_DATABASE_BACKUP_URL"
    ]
    assert "emptyDir" in volumes["tmp"]
    assert container["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["automountServiceAccountToken"] is False


def test_to_a_bucket_pods_carry_the_workload_identity_label() -> None:
    (cron_job,) = of_kind(_objects(BUCKET), "CronJob")
    labels = cron_job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    assert labels["app.kubernetes.io/component"] == "backup"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"keep": 7, "objectStore": {"bucket": "b-123", "expireDays": 7}},
            r"expireDays=7 must "
            r"exceed backup\.keep=7",
        ),
        ({"objectStore": {"bucket": "b-123", "prefix": "/dumps"}}, r"prefix '/dumps' must be"),
        ({"objectStore": {"bucket": "b-123", "account": "Not-Valid"}}, r"account"),
    ],
)
def test_bad_object_store_settings_name_the_field(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BackupSettings.model_validate({"enabled": True, **settings})


# In the stacks


def test_prod_backs_up_by_default(stacks: dict[str, Rendered]) -> None:
    objects = stacks["prod"].manifests()
    cron_job = named(objects, "CronJob", "todo-backup")
    assert cron_job["spec"]["schedule"] == "30 2 * * *"
    (container,) = pod_spec(cron_job)["containers"]
    assert (
        container["image"]
        == named(objects, "StatefulSet", "todo-postgres")["spec"]["template"]["spec"]["containers"][
            0
        ]["image"]
    )
    assert _env(container)["BACKUP_KEEP"] == "7"
    claim = named(objects, "PersistentVolumeClaim", "todo-backups")
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert named(objects, "ServiceAccount", "todo-backup")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_dev_and_staging_do_not(stacks: dict[str, Rendered], stack: str) -> None:
    objects = stacks[stack].manifests()
    assert not of_kind(objects, "CronJob")
    assert not of_kind(objects, "PersistentVolumeClaim")
    assert "todo-backup" not in {m["metadata"]["name"] for m in of_kind(objects, "ServiceAccount")}


def test_only_the_api_the_relay_and_the_backup_reach_postgres(
    stacks: dict[str, Rendered],
) -> None:
    objects = stacks["prod"].manifests()
    policy = named(objects, "NetworkPolicy", "todo-allow-clients-to-postgres")
    (rule,) = policy["spec"]["ingress"]
    clients = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
    ]
    assert clients == ["backend", "relay", "backup"]
    assert [p["port"] for p in rule["ports"]] == [5432]
    cron_job = named(objects, "CronJob", "todo-backup")
    labels = cron_job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert rule["from"][2]["podSelector"]["matchLabels"].items() <= labels.items()


def test_the_cron_job_waits_for_postgres_and_its_account(stacks: dict[str, Rendered]) -> None:
    by_name = {r.name: r for r in stacks["prod"].registrations}
    assert {"todo-postgres-statefulset", "todo-rbac-backup"} <= by_name["todo-backup"].dependencies


# The script, against the real PostgreSQL


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def source(database_url: str) -> Iterator[Connection]:
    """A database of its own, and a role of its own that may read it, whose password has
    pgpass' special characters (``:`` and ``\\``); dropped at the end."""
    suffix = uuid.uuid4().hex[:10]
    name, role, password = f"t_backup_{suffix}", f"t_backup_{suffix}", "pa:ss\\wo:rd-" + suffix
    admin = Connection.parse(database_url)
    with psycopg.connect(_libpq(database_url), autocommit=True, connect_timeout=5) as server:
        server.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with admin.to(name).connect() as db:
        db.execute("CREATE TABLE tasks (id int PRIMARY KEY, title text)")
        db.execute("INSERT INTO tasks SELECT i, 'task ' || i FROM generate_series(1, 50) i")
        db.execute(sql.SQL("GRANT SELECT ON tasks TO {}").format(sql.Identifier(role)))
    url = make_url(admin.url.render_as_string(hide_password=False)).set(
        username=role, password=password, database=name
    )
    yield Connection(url)
    with psycopg.connect(_libpq(database_url), autocommit=True, connect_timeout=5) as server:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        server.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _run_script(
    connection: Connection, folder: Path, tmp_path: Path, *, keep: int, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The CronJob's script with the environment the CronJob gives it, pg_dump of the server's
    major version first on PATH (the server's image has it there)."""
    with connection.connect() as server:
        pg_dump = program("pg_dump", server_major(server))
    secret = tmp_path / "POSTGRES_PASSWORD"
    secret.write_text(password if password is not None else str(connection.url.password))
    url = connection.url
    env = {
        "PATH": f"{pg_dump.parent}:{os.environ['PATH']}",
        "PGHOST": str(url.host),
        "PGPORT": str(url.port or 5432),
        "PGUSER": str(url.username),
        "PGDATABASE": connection.database,
        "PGPASSFILE": str(tmp_path / "pgpass"),
        "PASSWORD_FILE": str(secret),
        "BACKUP_DIR": str(folder),
        "BACKUP_KEEP": str(keep),
    }
    return subprocess.run(
        ["sh", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_script_writes_a_dump_and_keeps_only_the_newest(source: Connection, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    db = source.database
    older = [folder / f"{db}-2026010{day}T023000Z.dump" for day in (1, 2, 3)]
    for path in older:
        path.write_bytes(b"an older dump")
    others = [folder / "t_other-20250101T000000Z.dump", folder / "notes.txt"]
    for path in others:
        path.write_text("not this database's dump")

    done = _run_script(source, folder, tmp_path, keep=2)

    assert done.returncode == 0, done.stderr
    dump = Path(done.stdout.strip().splitlines()[-1])
    assert dump.parent == folder
    assert dump.name.startswith(f"{db}-")
    assert dump.name.endswith("Z.dump")
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [dump.name, older[-1].name, *(p.name for p in others)]
    )
    assert f"pruned {older[0]}" in done.stderr
    listed = subprocess.run(
        [str(program("pg_restore", _major(source))), "--list", str(dump)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "TABLE DATA public tasks" in listed.stdout
    assert stat.S_IMODE((tmp_path / "pgpass").stat().st_mode) == 0o600


def test_todo_api_restores_the_cron_jobs_dump(
    source: Connection, database_url: str, tmp_path: Path
) -> None:
    """Two writers make dumps: this script (the server's image has no Python) and `todo-api
    backup`. What one writes, `todo-api restore` must read, under the name its pruning keeps."""
    folder = tmp_path / "backups"
    folder.mkdir()
    done = _run_script(source, folder, tmp_path, keep=1)
    assert done.returncode == 0, done.stderr
    dump = Path(done.stdout.strip().splitlines()[-1])
    assert dump_names(source.database).match(dump.name), dump.name

    target = Connection.parse(database_url).to(f"t_restored_{uuid.uuid4().hex[:10]}")
    try:
        restored = restore(target, str(dump))
        assert (restored.database, restored.previous) == (target.database, None)
        with target.connect() as db:
            rows = db.execute("SELECT id, title FROM tasks ORDER BY id").fetchall()
        assert rows == [(i, f"task {i}") for i in range(1, 51)]
    finally:
        with Connection.parse(database_url).connect() as server:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(target.database)
                )
            )


def _major(connection: Connection) -> int:
    with connection.connect() as server:
        return server_major(server)


def test_a_failed_dump_leaves_no_file_and_prunes_nothing(
    source: Connection, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    kept = [folder / f"{source.database}-2026010{day}T023000Z.dump" for day in (1, 2)]
    for path in kept:
        path.write_bytes(b"an older dump")

    done = _run_script(source, folder, tmp_path, keep=1, password="not-the-password")

    assert done.returncode != 0
    assert "password authentication failed" in done.stderr
    assert sorted(folder.iterdir()) == kept


def test_the_service_image_carries_pg_dump_of_the_servers_major_version() -> None:
    """On the cloud stacks the Job runs `todo-api backup` in the service image: its client
    must be of the major version of `postgres.image` (pg_dump refuses a newer server)."""
    dockerfile = (Path(__file__).resolve().parents[2] / "app" / "Dockerfile").read_text()
    server = PostgresSettings().image.split(":", 1)[1].split(".", 1)[0]
    assert f"ARG PG_MAJOR={server}\n" in dockerfile
    assert f"ARG POSTGRES_IMAGE=postgres:{server}." in dockerfile
    assert '"postgresql-client-${PG_MAJOR}"' in dockerfile
