"""The service fixtures fail, with the reason, when a server cannot be had; they never skip."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest

from tests.conftest import redis_answers, server_setting


def test_a_server_that_cannot_start_fails_the_test_with_the_scripts_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tempfile.TemporaryDirectory(prefix="todo-services-test-") as state:
        monkeypatch.setenv("TODO_SERVICES_DIR", state)
        monkeypatch.setenv("TODO_SERVICES_ENV_FILE", str(Path(state) / "services.env"))
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]
            monkeypatch.setenv("TODO_REDIS_PORT", str(port))
            with pytest.raises(pytest.fail.Exception, match=f"port 127.0.0.1:{port} is taken"):
                server_setting("redis", "TODO_REDIS_URL", redis_answers)


def test_a_stale_env_file_is_not_trusted(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    """A setting whose server does not answer is replaced by a started server's setting."""
    with tempfile.TemporaryDirectory(prefix="todo-services-test-") as state:
        env_file = Path(state) / "services.env"
        env_file.write_text("TODO_REDIS_URL=redis://127.0.0.1:9/0\n")
        monkeypatch.setenv("TODO_SERVICES_ENV_FILE", str(env_file))
        # Same ports and state folder as the shared set: `start` reuses the running Redis.
        assert server_setting("redis", "TODO_REDIS_URL", redis_answers) == redis_url
