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

Every step is idempotent, so running ``migrate`` again changes nothing but the app role's
password verifier, which is how a rotated password reaches the database. The password never
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


class RoleError(ValueError):
    """The role settings cannot give least privilege; the message says which and why."""


@dataclass(frozen=True)
class Roles:
    """The two roles of a database: who migrates and who runs the service."""

    migration: str
    app: str
    app_password: str

    def __repr__(self) -> str:
        return f"Roles(migration={self.migration!r}, app={self.app!r}, app_password='***')"


def roles_for(admin_url: str, app_url: str, migration_role: str) -> Roles:
    """The roles ``migrate`` manages: the app role is the user of the service's own URL."""
    admin, app = make_url(admin_url), make_url(app_url)
    if not app.username or not app.password:
        raise RoleError("TODO_DATABASE_URL must name the app role and its password")
    for setting, name in (
        ("TODO_DATABASE_URL's user", app.username),
        ("TODO_DATABASE_MIGRATION_ROLE", migration_role),
    ):
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
    return Roles(migration=migration_role, app=app.username, app_password=app.password)


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
    password = scram_verifier(roles.app_password)
    if not _role_exists(connection, roles.migration):
        connection.exec_driver_sql(f"CREATE ROLE {migration} NOLOGIN")
    verb = "ALTER" if _role_exists(connection, roles.app) else "CREATE"
    # A verifier holds only base64 characters, '$' and ':': no quote to escape.
    connection.exec_driver_sql(f"{verb} ROLE {app} WITH LOGIN PASSWORD '{password}'")
    _refuse_attributes(connection, roles.app)
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
    """Fail when the app role (made by someone else, earlier) holds more than it should."""
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
            f"the app role {role!r} holds {', '.join(held)}: it must hold none; "
            f"remove them (ALTER ROLE {role} NO{' NO'.join(held)}) or name another app role"
        )
