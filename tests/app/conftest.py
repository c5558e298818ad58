"""Fixtures for the service tests: a fresh database per test, on PostgreSQL and on SQLite.

PostgreSQL databases are cloned from a template migrated once per session (CREATE DATABASE ...
TEMPLATE copies files, much faster than migrating each time); SQLite databases are new files.
Redis keys and Kafka topics get a per-test prefix, so tests never see each other's data on the
shared servers.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from fastapi.testclient import TestClient
from psycopg import sql
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app import migrate
from app.core.config import Settings
from app.db import make_engine, make_sessions
from app.events.cloudevents import EventKind
from app.main import create_app
from tests.app.helpers import TODO_API
from tests.app.roles import Database, libpq

SECRET = "test-signing-key-0123456789abcdef0123456789"
# The lowest argon2 memory cost the settings accept: tests register many users.
FAST_HASH_KIB = 8192
PARTITIONS = 3


def cli_env(**settings: str) -> dict[str, str]:
    """This environment without the developer's TODO_* settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TODO_")}
    return {**env, **settings}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, **settings: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [TODO_API, *args],
            cwd=tmp_path,
            env=cli_env(**settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _admin(database_url: str) -> psycopg.Connection[Any]:
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(libpq, autocommit=True, connect_timeout=5)


def _with_database(database_url: str, name: str) -> str:
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=SECRET,
        password_hash_memory_kib=FAST_HASH_KIB,
        **overrides,
    )


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass settings explicitly; a developer's TODO_* variables must not leak in."""
    for key in list(os.environ):
        if key.startswith("TODO_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def pg_template(database_url: str) -> Iterator[str]:
    name = f"todo_tmpl_{uuid.uuid4().hex[:10]}"
    with _admin(database_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_settings(_with_database(database_url, name)))
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with _admin(database_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def new_postgres(database_url: str, pg_template: str) -> Iterator[Callable[..., str]]:
    """Creates fresh PostgreSQL databases, migrated (cloned from the template) or empty."""
    created: list[str] = []

    def create(*, migrated: bool = True) -> str:
        name = f"todo_t_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{pg_template}"' if migrated else ""
        with _admin(database_url) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        created.append(name)
        return _with_database(database_url, name)

    yield create
    with _admin(database_url) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database of the test's backend."""
    if backend == "postgresql":
        create: Callable[..., str] = request.getfixturevalue("new_postgres")
        return create()
    url = f"sqlite:///{tmp_path / 'todo.db'}"
    engine = make_engine(make_settings(url))
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessions(engine)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def topic_prefix(kafka_bootstrap: str) -> Iterator[str]:
    """A topic prefix of this test's own, with the four task topics created (3 partitions)."""
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    names = [prefix + kind.topic for kind in EventKind]
    # Broker append times let tests check the order in which the relay's writes landed.
    config = {"message.timestamp.type": "LogAppendTime"}
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=PARTITIONS, config=config) for n in names]
    )
    for future in futures.values():
        future.result(timeout=30)
    yield prefix
    for future in admin.delete_topics(names).values():
        future.result(timeout=30)


@pytest.fixture
def database(database_url: str, new_postgres: Callable[..., str]) -> Iterator[Database]:
    suffix = uuid.uuid4().hex[:10]
    db = Database(
        admin_url=new_postgres(migrated=False),
        migration_role=f"t_migrator_{suffix}",
        app_role=f"t_app_{suffix}",
        monitor_role=f"t_monitor_{suffix}",
        backup_role=f"t_backup_{suffix}",
    )
    yield db
    # The database first (what the roles own and were granted lives in it), then the roles.
    name = make_url(db.admin_url).database
    with psycopg.connect(libpq(database_url), autocommit=True, connect_timeout=5) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        for role in (db.app_role, db.migration_role, db.monitor_role, db.backup_role):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
