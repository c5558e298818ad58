"""Fault tests run on a private set of servers, because they stop and kill them.

Stopping the shared development servers would break every other test running against them at
that moment; a private set (same `scripts/services`, own folder and free ports) costs a few
seconds to start and is removed at the end of the session. Each test gets a fresh database and
its own topic prefix, so no test sees another's rows or events.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from bench.faults import fresh_env
from bench.processes import ServiceEnv
from bench.servers import ServerSet, private_servers


@pytest.fixture(scope="session")
def fault_servers() -> Iterator[ServerSet]:
    with private_servers("todo-faults-") as servers:
        yield servers


@pytest.fixture
def fault_env(fault_servers: ServerSet, request: pytest.FixtureRequest) -> ServiceEnv:
    """The private servers, with a fresh database named after the test, at the latest schema."""
    return fresh_env(
        fault_servers, "fault_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    )


@pytest.fixture
def topic_prefix() -> str:
    return f"fault-{uuid.uuid4().hex[:8]}."
