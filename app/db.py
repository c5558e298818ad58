"""Engine and sessions, portable between PostgreSQL (in cluster) and SQLite (embedded default).

Transient database failures (refused connection, dropped socket) are recognised here in one
place, so the API can answer 503 and the event handler can ask for a retry.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from app.core.config import Settings


def make_engine(settings: Settings, url: str | None = None) -> Engine:
    """The engine for ``settings.database_url``, or for ``url`` (the migration's administrator)
    with the same options."""
    url = url or settings.database_url
    if settings.is_sqlite:
        engine = create_engine(
            url,
            # FastAPI runs sync routes on a thread pool; SQLite serialises writers itself.
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": settings.database_connect_timeout_seconds},
    )


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers run while one writer writes; foreign keys are off unless asked for."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_transient(exc: BaseException) -> bool:
    """True for failures that may pass on retry: the database is away, not the input wrong."""
    if isinstance(exc, OperationalError | SAInterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
