"""The dev stack's Dapr objects, converted for self-hosted daprd, and the service beside it.

Each test gets a fresh database, its own topic prefix and consumer group, and its own folder of
converted resources, on the shared development servers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.dapr_self_hosted import BACKEND_APP_ID, DevServers, SelfHostedApp, convert
from bench.daprd import Daprd, daprd_binary
from bench.processes import ApiServer, ServiceEnv
from tests.infra.manifests import Manifest, render

STACK = "dev"


@pytest.fixture(scope="session")
def daprd() -> str:
    return daprd_binary()


@pytest.fixture(scope="session")
def dev_manifests() -> list[Manifest]:
    return render(STACK).manifests()


@pytest.fixture
def dev_servers(redis_url: str, kafka_bootstrap: str) -> DevServers:
    return DevServers.at(redis_url, kafka_bootstrap)


@pytest.fixture
def convert_dev(
    dev_manifests: list[Manifest], dev_servers: DevServers, topics: str, tmp_path: Path
) -> Callable[[list[Manifest]], SelfHostedApp]:
    """Convert (possibly altered) dev manifests into a fresh folder for daprd."""
    counter = iter(range(1_000_000))

    def run(manifests: list[Manifest] | None = None) -> SelfHostedApp:
        return convert(
            dev_manifests if manifests is None else manifests,
            app_id=BACKEND_APP_ID,
            servers=dev_servers,
            consumer_group=f"{topics}dapr",
            folder=tmp_path / f"dapr-{next(counter)}",
        )

    return run


@pytest.fixture
def app_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def api(service_env: ServiceEnv, topics: str, app_token: str) -> Iterator[ApiServer]:
    """`todo-api serve` publishing its own outbox, expecting the sidecar's token."""
    with ApiServer(
        service_env,
        TODO_KAFKA_TOPIC_PREFIX=topics,
        TODO_RELAY_IN_PROCESS="true",
        TODO_DAPR_APP_TOKEN=app_token,
    ) as server:
        yield server


@pytest.fixture
def sidecar(daprd: str, api: ApiServer, app_token: str) -> Iterator[Callable[..., Daprd]]:
    """Start daprd for a converted app beside ``api``, sending the service's token (as the
    injector sets it from the stack's Secret) unless given another."""
    started: list[Daprd] = []

    def start(app: SelfHostedApp, token: str = app_token) -> Daprd:
        process = Daprd(app, api.port, token)
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()
