"""Least privilege on PostgreSQL: a migration role that owns the schema, an app role for DML.

``todo-api migrate`` connects as an administrator (``TODO_DATABASE_ADMIN_URL``: the server's
owner, or any role with CREATEROLE that owns the database) and, every run, brings the roles to
this state before migrating:

- the migration role (``TODO_DATABASE_MIGRATION_ROLE``) exists, cannot log in, and owns the
  ``public`` schema and every table, view, sequence and function in it, including those an
  earlier release created as the administrator; the migrations then run under it
  (``SET ROLE``), so what they create belongs to it too;
- the app role (the user of ``TODO_DATABASE_URL``, which the API, the relay and the consumer
  connect with) exists, logs in with that URL's password, holds no role attribute (no
  superuser, CREATEDB, CREATEROLE, replication or RLS bypass), and may only use the schema,
  SELECT/INSERT/UPDATE/DELETE on its tables and use its sequences, on today's tables and, by
  default privileges, on those later migrations create. It cannot create, alter, drop or
  truncate anything, nor write the migration history.

Two more logins, each for one job and each optional, are brought to the same state when their
URL is set:

- the monitoring role (the user of ``TODO_DATABASE_MONITOR_URL``), which postgres_exporter logs
  in as: a member of ``pg_monitor``, so it reads every ``pg_stat_*`` view and setting the
  exporter scrapes, and not one row of the app's tables;
- the backup role (the user of ``TODO_DATABASE_BACKUP_URL``), which ``todo-api backup`` and the
  backup CronJob log in as: a member of ``pg_read_all_data`` (PostgreSQL 14+), so ``pg_dump``
  reads every table and sequence, and it can write none.

Both hold no role attribute, like the app role. Granting a predefined role takes a superuser or
an administrator holding it WITH ADMIN OPTION.

Every step is idempotent, so running ``migrate`` again changes nothing but the login roles'
password verifiers, which is how a rotated password reaches the database. The password never
travels in plain text: the statement carries a SCRAM-SHA-256 verifier computed here (the form
PostgreSQL stores), so neither the server's statement log nor ``pg_stat_activity`` can show it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

SCHEMA = "public"
SCRAM_ITERATIONS = 4096
"""PostgreSQL's own default (``scram_iterations``)."""
DML = "SELECT, INSERT, UPDATE, DELETE"
MIGRATION_HISTORY = "alembic_version"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Relation kinds and the ALTER command that changes their owner. Sequences that belong to a
# table column are left out: they follow their table.
_OWNED_RELATIONS = text(
    """
    SELECT c.relname, c.relkind
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
      AND pg_get_userbyid(c.relowner) <> :owner
      AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
      )
    ORDER BY c.relname
    """
)
_ALTER = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
_OWNED_FUNCTIONS = text(
    """
    SELECT p.oid::regprocedure::text
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = :schema AND pg_get_userbyid(p.proowner) <> :owner
    ORDER BY 1
    """
)


MONITOR_GRANT = "pg_monitor"
BACKUP_GRANT = "pg_read_all_data"


class RoleError(ValueError):
    """The role settings cannot give least privilege; the message says which and why."""


@dataclass(frozen=True)
class Login:
    """A login role for one job: its password and the one predefined role it is a member of."""

    name: str
    password: str
    member_of: str

    def __repr__(self) -> str:
        return f"Login(name={self.name!r}, password='***', member_of={self.member_of!r})"


@dataclass(frozen=True)
class Roles:
    """The roles of a database: who migrates, who runs the service, and the optional logins
    of the exporter and the backup."""

    migration: str
    app: str
    app_password: str
    logins: tuple[Login, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Roles(migration={self.migration!r}, app={self.app!r}, app_password='***', "
            f"logins={self.logins!r})"
        )


def roles_for(
    admin_url: str,
    app_url: str,
    migration_role: str,
    *,
    monitor_url: str | None = None,
    backup_url: str | None = None,
) -> Roles:
    """The roles ``migrate`` manages: the app role is the user of the service's own URL, the
    monitoring and backup roles the users of theirs."""
    admin, app = make_url(admin_url), make_url(app_url)
    if not app.username or not app.password:
        raise RoleError("TODO_DATABASE_URL must name the app role and its password")
    logins: list[Login] = []
    named = [("TODO_DATABASE_URL's user", app.username)]
    for setting, url, member_of in (
        ("TODO_DATABASE_MONITOR_URL", monitor_url, MONITOR_GRANT),
        ("TODO_DATABASE_BACKUP_URL", backup_url, BACKUP_GRANT),
    ):
        if url is None:
            continue
        login = make_url(url)
        if not login.username or not login.password:
            raise RoleError(f"{setting} must name its role and its password")
        logins.append(Login(login.username, login.password, member_of))
        named.append((f"{setting}'s user", login.username))
    for setting, name in (*named, ("TODO_DATABASE_MIGRATION_ROLE", migration_role)):
        if not _IDENTIFIER.match(name):
            raise RoleError(
                f"{setting} {name!r} must be a lower-case SQL identifier (letters, digits, '_')"
            )
        if name == admin.username:
            raise RoleError(
                f"{setting} {name!r} is the administrator of TODO_DATABASE_ADMIN_URL: "
                "the service must not connect as the role that creates roles"
            )
    if app.username == migration_role:
        raise RoleError(
            f"TODO_DATABASE_URL's user {app.username!r} is the migration role: "
            "the service must not own the schema it writes to"
        )
    everyone = (*named, ("TODO_DATABASE_MIGRATION_ROLE", migration_role))
    for setting, name in named[1:]:
        clash = [other for other, other_name in everyone if other_name == name and other != setting]
        if clash:
            raise RoleError(f"{setting} {name!r} is also {clash[0]}: each job needs its own role")
    return Roles(
        migration=migration_role, app=app.username, app_password=app.password, logins=tuple(logins)
    )


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, RFC 7677)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _role_exists(connection: Connection, name: str) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name})
    return found.first() is not None


def prepare(connection: Connection, roles: Roles) -> None:
    """Create or update both roles and give the migration role the schema and its objects.

    Runs as the administrator, inside the migration's advisory lock, so concurrent ``migrate``
    runs take turns.
    """
    migration, app = _quote(connection, roles.migration), _quote(connection, roles.app)
    if not _role_exists(connection, roles.migration):
        connection.exec_driver_sql(f"CREATE ROLE {migration} NOLOGIN")
    _login(connection, roles.app, roles.app_password)
    for login in roles.logins:
        _login(connection, login.name, login.password)
        connection.exec_driver_sql(f"GRANT {login.member_of} TO {_quote(connection, login.name)}")
    # The administrator must be able to act as the migration role (SET ROLE, ALTER ... OWNER);
    # a superuser is anyway, a CREATEROLE administrator needs the membership.
    connection.exec_driver_sql(f"GRANT {migration} TO CURRENT_USER")
    connection.exec_driver_sql(f"ALTER SCHEMA {SCHEMA} OWNER TO {migration}")
    connection.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC")
    owner = {"schema": SCHEMA, "owner": roles.migration}
    for name, kind in connection.execute(_OWNED_RELATIONS, owner):
        connection.exec_driver_sql(
            f"ALTER {_ALTER[kind]} {SCHEMA}.{_quote(connection, name)} OWNER TO {migration}"
        )
    for (signature,) in connection.execute(_OWNED_FUNCTIONS, owner):
        connection.exec_driver_sql(f"ALTER FUNCTION {signature} OWNER TO {migration}")
    for objects, privileges in (("TABLES", DML), ("SEQUENCES", "USAGE")):
        connection.exec_driver_sql(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {migration} IN SCHEMA {SCHEMA} "
            f"GRANT {privileges} ON {objects} TO {app}"
        )


def _login(connection: Connection, role: str, password: str) -> None:
    """``role`` exists, logs in with ``password`` and holds no role attribute."""
    verb = "ALTER" if _role_exists(connection, role) else "CREATE"
    verifier = scram_verifier(password)
    # A verifier holds only base64 characters, '$' and ':': no quote to escape.
    connection.exec_driver_sql(
        f"{verb} ROLE {_quote(connection, role)} WITH LOGIN PASSWORD '{verifier}'"
    )
    _refuse_attributes(connection, role)


def grant(connection: Connection, roles: Roles) -> None:
    """The app role's privileges on what exists after the migration; as the administrator."""
    app = _quote(connection, roles.app)
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {app}")
    connection.exec_driver_sql(f"GRANT {DML} ON ALL TABLES IN SCHEMA {SCHEMA} TO {app}")
    connection.exec_driver_sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {app}")
    # Reading the schema's revision is harmless; rewriting it would mislead the next migrate.
    connection.exec_driver_sql(
        f"REVOKE INSERT, UPDATE, DELETE ON {SCHEMA}.{MIGRATION_HISTORY} FROM {app}"
    )


def _refuse_attributes(connection: Connection, role: str) -> None:
    """Fail when a login role (made by someone else, earlier) holds more than it should."""
    row = connection.execute(
        text(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = :name"
        ),
        {"name": role},
    ).one()
    held = [
        attribute
        for attribute, on in zip(
            ("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS"), row, strict=True
        )
        if on
    ]
    if held:
        raise RoleError(
            f"the role {role!r} holds {', '.join(held)}: it must hold none; "
            f"remove them (ALTER ROLE {role} NO{' NO'.join(held)}) or name another role"
        )
