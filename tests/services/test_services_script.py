"""scripts/services itself: per-service start/stop by pid, reuse, and clear errors.

These run a private set of servers on free ports with their own state folder and env file, so
they never touch the shared servers other tests are using.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.processes import alive, free_port
from bench.servers import PORT_VARIABLES
from tests.conftest import (
    SERVICES_SCRIPT,
    kafka_answers,
    postgres_answers,
    read_env_file,
    redis_answers,
)

SETTINGS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "postgres": ("TODO_DATABASE_URL", postgres_answers),
    "redis": ("TODO_REDIS_URL", redis_answers),
    "kafka": ("TODO_KAFKA_BOOTSTRAP_SERVERS", kafka_answers),
}


def _services(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SERVICES_SCRIPT), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def private_env() -> Iterator[dict[str, str]]:
    # Directly in the temp folder, not in pytest's private tmp_path: as root, PostgreSQL runs as
    # the `postgres` user, which must be able to enter every folder above its data.
    state = Path(tempfile.mkdtemp(prefix="todo-services-test-"))
    env = {
        "TODO_SERVICES_DIR": str(state),
        "TODO_SERVICES_ENV_FILE": str(state / "services.env"),
        "TODO_KAFKA_CONTROLLER_PORT": str(free_port()),
        **{variable: str(free_port()) for variable in PORT_VARIABLES.values()},
    }
    try:
        yield env
    finally:
        _services(env, "stop")
        shutil.rmtree(state)


@pytest.mark.parametrize("name", ["postgres", "redis", "kafka"])
def test_start_reuse_status_and_stop_one_service(private_env: dict[str, str], name: str) -> None:
    port = private_env[PORT_VARIABLES[name]]
    key, answers = SETTINGS[name]

    started = _services(private_env, "start", name)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"{name}: started (pid " in started.stdout
    setting = read_env_file(Path(private_env["TODO_SERVICES_ENV_FILE"]))[key]
    assert f"127.0.0.1:{port}" in setting
    assert answers(setting)
    pid = int((Path(private_env["TODO_SERVICES_DIR"]) / f"{name}-{port}.pid").read_text())

    again = _services(private_env, "start", name)
    assert again.returncode == 0, again.stderr
    assert f"{name}: already running (pid {pid})" in again.stdout

    assert _services(private_env, "status", name).returncode == 0

    stopped = _services(private_env, "stop", name)
    assert stopped.returncode == 0, stopped.stderr
    assert f"{name}: stopped (pid {pid})" in stopped.stdout
    assert not alive(pid)
    assert not answers(setting)
    status = _services(private_env, "status", name)
    assert (status.returncode, status.stdout.strip()) == (3, f"{name}: stopped")


@pytest.mark.parametrize(
    ("name", "variable"),
    [("redis", "TODO_REDIS_PORT"), ("kafka", "TODO_KAFKA_CONTROLLER_PORT")],
)
def test_port_taken_by_another_process_fails_clearly(
    private_env: dict[str, str], name: str, variable: str
) -> None:
    port = private_env[variable]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(port)))
        squatter.listen()
        result = _services(private_env, "start", name)
    assert result.returncode == 1
    assert f"{name}: port 127.0.0.1:{port} is taken" in result.stderr
    assert f"another port with {variable}=<port>" in result.stderr


def test_bad_port_setting_names_the_variable(private_env: dict[str, str]) -> None:
    result = _services({**private_env, "TODO_REDIS_PORT": "seventy"}, "start", "redis")
    assert result.returncode == 1
    assert "TODO_REDIS_PORT='seventy' is not a TCP port" in result.stderr


def test_unknown_service_is_refused(private_env: dict[str, str]) -> None:
    result = _services(private_env, "start", "mysql")
    assert result.returncode == 1
    assert "unknown service mysql; choose from postgres, redis, kafka" in result.stderr
