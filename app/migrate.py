"""Schema migrations (Alembic), run by `todo-api migrate` and by `serve` on the embedded default.

Several init containers may start at once; on PostgreSQL an advisory lock makes them take turns,
so the second finds the schema at head and does nothing. Given :class:`app.db_roles.Roles`, the
run, still under the lock, first brings the migration and app roles up to date, migrates as the
migration role, then grants the app role its privileges on the result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from app import db_roles
from app.db_roles import Roles

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant shared by every `todo-api migrate`; only needs to be unique per database.
_ADVISORY_LOCK_KEY = 0x70D0_0001


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


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
