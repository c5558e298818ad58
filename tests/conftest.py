"""Session fixtures that hand tests the real PostgreSQL, Redis and Kafka of scripts/services.

Each fixture trusts .services.env only after the server behind it answers; otherwise it runs
`scripts/services start <name>` and checks again. It never skips: a test that needs a server and
cannot have one fails with the reason, so no run passes by quietly testing nothing.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bench.processes import ServiceEnv

REPO = Path(__file__).resolve().parent.parent
SERVICES_SCRIPT = REPO / "scripts" / "services"
# Covers a cold start (apt-get, Maven, the first KRaft format; about 25 s measured) with room to
# spare, and stays under pytest-timeout's 600 s so this message, not a bare timeout, is shown.
START_TIMEOUT_S = 500
# The folders whose tests run the Go-built toolchains (Pulumi's CLI and provider, the control plane,
# actionlint, daprd, Jaeger). scripts/test runs them after the others, so those run while a cold
# build goes on.
TOOLCHAIN_FOLDERS = ("dapr", "deploy", "engine", "local", "traces", "workflows")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "toolchain: needs a Go-built toolchain on PATH (set by folder in tests/conftest.py)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    folders = {REPO / "tests" / name for name in TOOLCHAIN_FOLDERS}
    for item in items:
        if folders.intersection(item.path.parents):
            item.add_marker(pytest.mark.toolchain)


@dataclass(frozen=True)
class Services:
    """Connection settings of the three development servers."""

    database_url: str
    redis_url: str
    kafka_bootstrap: str


def services_env_file() -> Path:
    """Where scripts/services writes the settings (it honours the same override)."""
    return Path(os.environ.get("TODO_SERVICES_ENV_FILE") or REPO / ".services.env")


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """The KEY=value lines of an env file written by scripts/services (empty when absent)."""
    path = path or services_env_file()
    if not path.exists():
        return {}
    settings: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def postgres_answers(database_url: str) -> bool:
    import psycopg

    # SQLAlchemy's dialect marker is not part of a libpq URL.
    libpq_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(libpq_url, connect_timeout=3) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def redis_answers(redis_url: str) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=3)
    try:
        return client.ping() is True
    except redis.RedisError:
        return False
    finally:
        client.close()


def kafka_answers(bootstrap: str) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("tests.kafka-probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=quiet)
    try:
        return bool(admin.list_topics(timeout=5).brokers)
    except KafkaException:
        return False


def server_setting(name: str, key: str, answers: Callable[[str], bool]) -> str:
    """The answering server's setting `key`, starting the server when it is not there."""
    value = read_env_file().get(key)
    if value is not None and answers(value):
        return value
    try:
        started = subprocess.run(
            [str(SERVICES_SCRIPT), "start", name],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`scripts/services start {name}` did not finish in {START_TIMEOUT_S}s")
    value = read_env_file().get(key)
    if started.returncode != 0 or value is None or not answers(value):
        pytest.fail(
            f"no {name} server for this test: `scripts/services start {name}` exited "
            f"{started.returncode} and {key}={value!r} does not answer.\n"
            f"{started.stdout}{started.stderr}",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def database_url() -> str:
    """SQLAlchemy URL of the real PostgreSQL; the `todo` role may create databases and roles."""
    return server_setting("postgres", "TODO_DATABASE_URL", postgres_answers)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis, database 0."""
    return server_setting("redis", "TODO_REDIS_URL", redis_answers)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the real single-node KRaft Kafka broker."""
    return server_setting("kafka", "TODO_KAFKA_BOOTSTRAP_SERVERS", kafka_answers)


@pytest.fixture(scope="session")
def services(database_url: str, redis_url: str, kafka_bootstrap: str) -> Services:
    """All three servers at once, for tests that run the whole service."""
    return Services(database_url=database_url, redis_url=redis_url, kafka_bootstrap=kafka_bootstrap)


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[str]:
    """A topic prefix of this test's own, with the four task topics created."""
    from bench.topics import create_topics, delete_topics, task_topics

    prefix = f"t-{uuid.uuid4().hex[:10]}."
    names = task_topics(prefix)
    create_topics(kafka_bootstrap, names)
    yield prefix
    delete_topics(kafka_bootstrap, names)


@pytest.fixture
def service_env(
    database_url: str, redis_url: str, kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[ServiceEnv]:
    """The development servers, with a fresh migrated database of this test's own, for tests
    that run the service's commands as processes."""
    from bench.database import drop_database, recreate_database
    from bench.processes import ServiceEnv, migrate

    name = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    env = ServiceEnv(
        database_url=recreate_database(database_url, name),
        redis_url=redis_url,
        kafka_bootstrap=kafka_bootstrap,
        log_level="INFO",
    )
    migrate(env)
    yield env
    drop_database(database_url, name)
