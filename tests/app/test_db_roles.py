"""Least privilege on the real PostgreSQL: `todo-api migrate` makes a migration role that owns
the schema and an app role that may only read and write rows; the service runs as the latter.

Roles are global to the server, which other tests and people share: every test names its own
and drops them, with what they own, at the end.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from app import migrate
from app.db import make_engine
from app.db_roles import RoleError, roles_for, scram_verifier
from app.main import create_app
from tests.app.conftest import make_settings
from tests.app.helpers import create_task, register
from tests.app.roles import TABLES, Database, table_owners

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
    assert f"the app role {database.app_role!r} holds CREATEDB: it must hold none" in (
        result.stderr
    )


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
