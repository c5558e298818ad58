"""scripts/services itself: per-service start/stop by pid, reuse, and a clear error on a taken port.

These run a private Redis (the cheapest server) on a free port with its own state folder and env
file, so they never touch the shared servers other tests are using.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import SERVICES_SCRIPT, read_env_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _services(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SERVICES_SCRIPT), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def private_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "TODO_SERVICES_DIR": str(tmp_path / "state"),
        "TODO_SERVICES_ENV_FILE": str(tmp_path / "services.env"),
        "TODO_REDIS_PORT": str(_free_port()),
    }
    yield env
    _services(env, "stop", "redis")


def test_start_reuse_status_and_stop_one_service(private_env: dict[str, str]) -> None:
    port = int(private_env["TODO_REDIS_PORT"])

    started = _services(private_env, "start", "redis")
    assert started.returncode == 0, started.stderr
    assert "redis: started (pid " in started.stdout
    settings = read_env_file(Path(private_env["TODO_SERVICES_ENV_FILE"]))
    assert settings["TODO_REDIS_URL"] == f"redis://127.0.0.1:{port}/0"
    assert redis.Redis(host="127.0.0.1", port=port).ping() is True
    pid = int((Path(private_env["TODO_SERVICES_DIR"]) / f"redis-{port}.pid").read_text())

    again = _services(private_env, "start", "redis")
    assert again.returncode == 0, again.stderr
    assert f"redis: already running (pid {pid})" in again.stdout

    assert _services(private_env, "status", "redis").returncode == 0

    stopped = _services(private_env, "stop", "redis")
    assert stopped.returncode == 0, stopped.stderr
    assert f"redis: stopped (pid {pid})" in stopped.stdout
    assert not _alive(pid)
    status = _services(private_env, "status", "redis")
    assert (status.returncode, status.stdout.strip()) == (3, "redis: stopped")


def test_port_taken_by_another_process_fails_clearly(private_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(private_env["TODO_REDIS_PORT"])))
        squatter.listen()
        result = _services(private_env, "start", "redis")
    assert result.returncode == 1
    assert f"port 127.0.0.1:{private_env['TODO_REDIS_PORT']} is taken" in result.stderr
    assert "TODO_REDIS_PORT=<port>" in result.stderr


def test_bad_port_setting_names_the_variable(private_env: dict[str, str]) -> None:
    result = _services({**private_env, "TODO_REDIS_PORT": "seventy"}, "start", "redis")
    assert result.returncode == 1
    assert "TODO_REDIS_PORT='seventy' is not a TCP port" in result.stderr


def test_unknown_service_is_refused(private_env: dict[str, str]) -> None:
    result = _services(private_env, "start", "mysql")
    assert result.returncode == 1
    assert "unknown service mysql; choose from postgres, redis, kafka" in result.stderr
