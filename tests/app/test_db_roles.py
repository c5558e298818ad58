"""Least privilege on the real PostgreSQL: `todo-api migrate` makes a migration role that owns
the schema and an app role that may only read and write rows; the service runs as the latter.

Roles are global to the server, which other tests and people share: every test names its own
and drops them, with what they own, at the end.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from app import migrate
from app.db import make_engine
from app.db_roles import RoleError, roles_for, scram_verifier
from app.main import create_app
from app.pg_tools import program, run, server_major
from tests.app.conftest import cli_env, make_settings
from tests.app.helpers import create_task, register
from tests.app.roles import TABLES, Database, connect, table_owners
from tests.app.test_cli import _run_cli

EVENT_ID = uuid.uuid4()
INSERT_EVENT = "INSERT INTO processed_events (event_id, processed_at) VALUES (%s, now())"


def _revision(db: Database) -> str:
    with db.admin() as admin:
        row = admin.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def test_migrate_makes_both_roles_and_the_migration_role_owns_everything(
    database: Database, tmp_path: Path
) -> None:
    password = "app-password-" + uuid.uuid4().hex
    result = database.migrate(password, tmp_path)
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    assert table_owners(database) == dict.fromkeys(
        {"schema public", *TABLES}, database.migration_role
    )
    with database.admin() as admin:
        attributes = {
            name: rest
            for name, *rest in admin.execute(
                "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, "
                "rolreplication, rolbypassrls FROM pg_roles WHERE rolname IN (%s, %s)",
                (database.migration_role, database.app_role),
            )
        }
    assert attributes == {
        database.migration_role: [False] + [False] * 5,
        database.app_role: [True] + [False] * 5,
    }


def test_the_app_role_reads_and_writes_rows_but_changes_no_structure(
    database: Database, tmp_path: Path
) -> None:
    password = "app-password-" + uuid.uuid4().hex
    assert database.migrate(password, tmp_path).returncode == 0
    # The service itself, as the app role: a write goes to tasks, outbox (its sequence and
    # the NOTIFY trigger) and users.
    with TestClient(create_app(make_settings(database.app_url(password)))) as client:
        headers = register(client)
        task = create_task(client, headers, title="written by the app role")
        listed = client.get("/api/v1/tasks", headers=headers).json()
        assert [t["id"] for t in listed["items"]] == [task["id"]]
    with database.connect_as_app(password) as app:
        assert app.execute("SELECT count(*) FROM outbox").fetchone() == (1,)
        app.execute("UPDATE tasks SET title = 'renamed'")
        app.execute("DELETE FROM outbox")
        assert app.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        for statement in (
            "CREATE TABLE intruder (id int)",
            "DROP TABLE tasks",
            "ALTER TABLE tasks ADD COLUMN extra int",
            "CREATE INDEX intruder_idx ON tasks (title)",
            "TRUNCATE outbox",
            "UPDATE alembic_version SET version_num = 'x'",
            "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
    assert _revision(database) == migrate_head()


def migrate_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate._config()).get_current_head()
    assert head is not None
    return head


def test_migrate_again_changes_nothing_but_the_app_password(
    database: Database, tmp_path: Path
) -> None:
    first, second = ("app-password-" + uuid.uuid4().hex for _ in range(2))
    assert database.migrate(first, tmp_path).returncode == 0
    with database.connect_as_app(first) as app:
        app.execute(INSERT_EVENT, (EVENT_ID,))
    owners = table_owners(database)
    again = database.migrate(first, tmp_path)
    assert again.returncode == 0, again.stderr
    rotated = database.migrate(second, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert table_owners(database) == owners
    assert _revision(database) == migrate_head()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        database.connect_as_app(first).close()
    with database.connect_as_app(second) as app:
        assert app.execute("SELECT event_id FROM processed_events").fetchone() == (EVENT_ID,)


def test_a_schema_an_earlier_release_made_as_the_administrator_is_handed_over(
    database: Database, tmp_path: Path
) -> None:
    """Before the roles, the administrator migrated and owned the tables: the first migrate
    with roles gives them, their sequences and the trigger function to the migration role."""
    engine = make_engine(make_settings(database.admin_url))
    migrate.upgrade(engine)
    engine.dispose()
    with database.admin() as admin:
        admin.execute(INSERT_EVENT, (EVENT_ID,))
    password = "app-password-" + uuid.uuid4().hex
    assert database.migrate(password, tmp_path).returncode == 0
    assert set(table_owners(database).values()) == {database.migration_role}
    with database.admin() as admin:
        functions = admin.execute(
            "SELECT DISTINCT pg_get_userbyid(p.proowner) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        ).fetchall()
    assert functions == [(database.migration_role,)]
    with TestClient(create_app(make_settings(database.app_url(password)))) as client:
        create_task(client, register(client))
    with database.connect_as_app(password) as app:
        assert app.execute("SELECT event_id FROM processed_events").fetchone() == (EVENT_ID,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DROP TABLE processed_events")


def test_an_app_role_with_more_than_it_should_is_refused(
    database: Database, tmp_path: Path
) -> None:
    with database.admin() as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(database.app_role))
        )
    result = database.migrate("app-password-" + uuid.uuid4().hex, tmp_path)
    assert result.returncode != 0
    assert f"the role {database.app_role!r} holds CREATEDB: it must hold none" in (result.stderr)


@pytest.mark.parametrize(
    ("admin_user", "app_user", "migration_role", "message"),
    [
        ("todo", "todo", "todo_migrator", r"TODO_DATABASE_URL's user 'todo' is the administrator"),
        ("todo", "todo_app", "todo", r"TODO_DATABASE_MIGRATION_ROLE 'todo' is the administrator"),
        ("todo", "todo_app", "todo_app", r"user 'todo_app' is the migration role"),
        ("todo", "Todo-App", "todo_migrator", r"user 'Todo-App' must be a lower-case SQL"),
    ],
)
def test_role_settings_that_break_least_privilege_are_refused(
    admin_user: str, app_user: str, migration_role: str, message: str
) -> None:
    host = "postgresql+psycopg://{}:secret-password@db.invalid:5432/todo"
    with pytest.raises(RoleError, match=message):
        roles_for(host.format(admin_user), host.format(app_user), migration_role)


def test_the_roles_repr_hides_the_password() -> None:
    roles = roles_for(
        "postgresql+psycopg://todo:admin-secret@db.invalid/todo",
        "postgresql+psycopg://todo_app:app-secret@db.invalid/todo",
        "todo_migrator",
    )
    assert "app-secret" not in repr(roles)


def test_the_verifier_is_what_postgresql_stores_and_hides_the_password() -> None:
    verifier = scram_verifier("pencil", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert "pencil" not in verifier
    assert scram_verifier("pencil") != scram_verifier("pencil")  # a fresh salt each time


def test_the_monitoring_role_reads_statistics_and_no_rows(
    database: Database, tmp_path: Path
) -> None:
    """postgres_exporter's login: every pg_stat_* view, with other sessions' queries (not
    '<insufficient privilege>'), and no table of the app, to read or to write."""
    password = "login-password-" + uuid.uuid4().hex
    done = database.migrate("app-password-" + uuid.uuid4().hex, tmp_path, logins_password=password)
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    with database.admin() as admin, connect(database.monitor_url(password)) as monitor:
        admin.execute("SELECT 'seen by the exporter'")
        seen = monitor.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", (admin.info.backend_pid,)
        ).fetchone()
        assert seen == ("SELECT 'seen by the exporter'",)
        for view in ("pg_stat_database", "pg_stat_user_tables", "pg_stat_bgwriter"):
            monitor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(view)))
        for statement in (
            "SELECT count(*) FROM tasks",
            "INSERT INTO processed_events (event_id, processed_at) "
            "VALUES (gen_random_uuid(), now())",
            "CREATE TABLE intruder (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                monitor.execute(statement)
        assert _attributes(admin, database.monitor_role) == (True, *[False] * 5)


def test_the_backup_role_dumps_every_table_and_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    """`todo-api backup` with TODO_DATABASE_BACKUP_URL alone (all the backup CronJob holds)
    dumps as the backup role, and that role cannot change a row or the structure."""
    password = "login-password-" + uuid.uuid4().hex
    app_password = "app-password-" + uuid.uuid4().hex
    assert database.migrate(app_password, tmp_path, logins_password=password).returncode == 0
    with TestClient(create_app(make_settings(database.app_url(app_password)))) as client:
        create_task(client, register(client), title="dumped by the backup role")
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    done = _run_cli(
        ["backup", "--to", str(dumps)],
        cli_env(TODO_DATABASE_BACKUP_URL=database.backup_url(password)),
    )
    assert done.returncode == 0, done.stderr
    dump = done.stdout.strip().splitlines()[-1]
    with database.admin() as admin:
        pg_restore = program("pg_restore", server_major(admin))
        assert _attributes(admin, database.backup_role) == (True, *[False] * 5)
    listed = run([str(pg_restore), "--list", dump]).stdout
    assert {table for table in TABLES if f"TABLE DATA public {table} " in listed} == TABLES
    with connect(database.backup_url(password)) as backup:
        assert backup.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
        for statement in (
            "UPDATE tasks SET title = 'changed'",
            "DELETE FROM outbox",
            "INSERT INTO processed_events (event_id, processed_at) "
            "VALUES (gen_random_uuid(), now())",
            "TRUNCATE processed_events",
            "CREATE TABLE intruder (id int)",
            "SELECT setval(pg_get_serial_sequence('outbox', 'id'), 1)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                backup.execute(statement)


@pytest.mark.parametrize(
    ("monitor_user", "backup_user", "message"),
    [
        ("todo_app", "todo_backup", r"MONITOR_URL's user 'todo_app' is also TODO_DATABASE_URL"),
        ("todo_stats", "todo_stats", r"MONITOR_URL's user 'todo_stats' is also TODO_DATABASE_BACK"),
        (
            "todo_monitor",
            "todo_migrator",
            r"BACKUP_URL's user 'todo_migrator' is also TODO_DATABASE_MIG",
        ),
        ("todo", "todo_backup", r"MONITOR_URL's user 'todo' is the administrator"),
    ],
)
def test_each_job_needs_a_role_of_its_own(
    monitor_user: str, backup_user: str, message: str
) -> None:
    host = "postgresql+psycopg://{}:secret-password@db.invalid:5432/todo"
    with pytest.raises(RoleError, match=message):
        roles_for(
            host.format("todo"),
            host.format("todo_app"),
            "todo_migrator",
            monitor_url=host.format(monitor_user),
            backup_url=host.format(backup_user),
        )


def _attributes(admin: psycopg.Connection[Any], role: str) -> tuple[bool, ...]:
    row = admin.execute(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
        "FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    assert row is not None
    return tuple(row)
