"""Schema migrations (Alembic), run by `todo-api migrate` and by every command as it starts.

Every process brings the database it is pointed at up to date before it serves
(``bring_up_to_date``), unless ``TODO_MIGRATE_ON_START=false``: then it refuses to start on a
schema that is behind, rather than answer every call with a 500 while ``/readyz`` says ready.
The cluster sets that: its init container migrates, and the app role the API and the relay
connect as may not change the schema.

Several processes may start at once; on PostgreSQL an advisory lock makes them take turns, so
the second finds the schema at head and does nothing. Given :class:`app.db_roles.Roles`, the
run, still under the lock, first brings the migration and app roles up to date, migrates as the
migration role, then grants the app role its privileges on the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from app import db_roles
from app.db_roles import Roles

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant shared by every `todo-api migrate`; only needs to be unique per database.
_ADVISORY_LOCK_KEY = 0x70D0_0001


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class SchemaBehindError(RuntimeError):
    """The database needs migrations this process was told not to run."""


class MigrationRefusedError(RuntimeError):
    """A migration found rows it must not change by itself; the message names them and what
    to do. Nothing of that migration is applied."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    known: bool

    @property
    def behind(self) -> bool:
        """Behind: no schema, or an older revision of ours. A revision we do not know is newer
        (a later version migrated first, as in a rolling update): its migrations keep older
        code working, so that is not behind."""
        return self.current != self.head and (self.current is None or self.known)

    @property
    def status(self) -> str:
        if self.behind:
            return "behind"
        return "current" if self.current == self.head else "ahead"

    def describe(self) -> str:
        current = self.current or "no revision"
        return f"the database schema is at {current}, this version needs {self.head}"


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def state(connection: Connection) -> SchemaState:
    scripts = _scripts()
    head = scripts.get_current_head()
    assert head is not None, "the migrations have one head"
    current = MigrationContext.configure(connection).get_current_revision()
    known = current is not None and current in {r.revision for r in scripts.walk_revisions()}
    return SchemaState(current=current, head=head, known=known)


def bring_up_to_date(engine: Engine, *, allowed: bool) -> None:
    """Upgrade to head, or, when not ``allowed``, fail if the schema is behind."""
    if allowed:
        upgrade(engine)
        return
    with engine.connect() as connection:
        schema = state(connection)
    if schema.behind:
        raise SchemaBehindError(
            f"{schema.describe()}; run `todo-api migrate`, or set TODO_MIGRATE_ON_START=true "
            "so that it migrates as it starts"
        )


def upgrade(engine: Engine, revision: str = "head", roles: Roles | None = None) -> None:
    _run(engine, lambda config: command.upgrade(config, revision), roles)


def downgrade(engine: Engine, revision: str, roles: Roles | None = None) -> None:
    _run(engine, lambda config: command.downgrade(config, revision), roles)


def _run(engine: Engine, step: Callable[[Config], None], roles: Roles | None) -> None:
    """``step`` under the advisory lock; with ``roles`` (PostgreSQL, ``engine`` an
    administrator's) as the migration role, between :func:`db_roles.prepare` and
    :func:`db_roles.grant`."""
    config = _config()
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if roles is not None and not is_postgres:
            raise db_roles.RoleError("database roles are PostgreSQL's: no roles on SQLite")
        if is_postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            if roles is not None:
                db_roles.prepare(connection, roles)
                connection.exec_driver_sql(
                    "SET ROLE " + connection.dialect.identifier_preparer.quote(roles.migration)
                )
            step(config)
            if roles is not None:
                connection.exec_driver_sql("RESET ROLE")
                db_roles.grant(connection, roles)
            connection.commit()
        finally:
            if is_postgres:
                # Ends a transaction a failure left open; after the commit it does nothing.
                connection.rollback()
                connection.exec_driver_sql("RESET ROLE")
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                )
                connection.commit()
