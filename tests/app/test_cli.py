"""The `todo-api` console script, run as the container runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect

from app import migrate
from app.db import make_engine
from bench.processes import GUARD_S
from tests.app.conftest import SECRET, cli_env, make_settings
from tests.app.helpers import TODO_API, add_users, dead_port


def _run_cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """One `todo-api` command run to its end; the caller reads its exit code and output."""
    return subprocess.run(
        [TODO_API, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        check=False,
    )


def _refused(tmp_path: Path, command: list[str], **settings: str) -> str:
    """Runs ``todo-api command``, which must exit 2 with no traceback; returns its last line."""
    done = _run_cli(command, cli_env(**settings), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


def test_serve_with_no_settings_runs_the_embedded_default(
    serve: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    port = dead_port()
    process = serve("serve", "--port", str(port))
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            status, body = _get(f"http://127.0.0.1:{port}/readyz")
            break
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, f"serve did not answer within {GUARD_S:.0f}s"
            time.sleep(0.2)
    assert (status, body) == (
        200,
        {"status": "ready", "database": "ok", "schema": "current", "cache": "disabled"},
    )
    assert (tmp_path / "todo.db").exists()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any("DEVELOPMENT signing key" in entry["message"] for entry in logs)
    assert any(entry.get("route") == "/readyz" for entry in logs), "JSON access log"


def _empty_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgresql":
        create: Callable[..., str] = request.getfixturevalue("new_postgres")
        return create(migrated=False)
    return f"sqlite:///{tmp_path / 'fresh.db'}"


def _wait_ready(process: subprocess.Popen[str], port: int) -> tuple[int, dict]:
    deadline = time.monotonic() + 60  # a guard: startup is one migration and a bind
    while True:
        try:
            return _get(f"http://127.0.0.1:{port}/readyz")
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "serve did not answer within 60s"
            time.sleep(0.2)


def test_serve_brings_an_empty_database_up_to_date(
    serve: Callable[..., subprocess.Popen[str]],
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    url = _empty_database(backend, request, tmp_path)
    port = dead_port()
    process = serve("serve", "--port", str(port), TODO_DATABASE_URL=url, TODO_JWT_SECRET=SECRET)
    assert _wait_ready(process, port) == (
        200,
        {"status": "ready", "database": "ok", "schema": "current", "cache": "disabled"},
    )
    register = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/register",
        data=json.dumps({"username": "alice", "password": "correct horse battery"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(register, timeout=30) as response:
        assert response.status == 201


def test_serve_told_not_to_migrate_refuses_a_schema_that_is_behind(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = _empty_database(backend, request, tmp_path)
    line = _refused(
        tmp_path,
        ["serve", "--port", str(dead_port())],
        TODO_DATABASE_URL=url,
        TODO_JWT_SECRET=SECRET,
        TODO_MIGRATE_ON_START="false",
    )
    assert line == (
        "todo-api: the database schema is at no revision, this version needs 0007; run "
        "`todo-api migrate`, or set TODO_MIGRATE_ON_START=true so that it migrates as it starts"
    )


def test_migrate_brings_an_empty_postgres_database_to_head(
    new_postgres: Callable[..., str], tmp_path: Path
) -> None:
    url = new_postgres(migrated=False)
    # As in the cluster: only the database URL, as a mounted file, and no signing key.
    (tmp_path / "database-url").write_text(url + "\n")
    done = _run_cli(["migrate"], cli_env(TODO_DATABASE_URL_FILE=str(tmp_path / "database-url")))
    assert done.returncode == 0, done.stderr
    engine = make_engine(make_settings(url))
    assert "outbox" in inspect(engine).get_table_names()
    engine.dispose()


def test_serve_without_a_signing_key_exits_2_naming_the_variable(tmp_path: Path) -> None:
    done = _run_cli(
        ["serve", "--port", str(dead_port())],
        cli_env(TODO_DATABASE_URL="postgresql+psycopg://todo@127.0.0.1/todo"),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "TODO_JWT_SECRET is required" in done.stderr


def test_a_bad_retention_exits_2_naming_the_variable(tmp_path: Path) -> None:
    assert _refused(tmp_path, ["relay"], TODO_PROCESSED_EVENT_RETENTION_HOURS="0") == (
        "todo-api: invalid settings: TODO_PROCESSED_EVENT_RETENTION_HOURS: Input should be "
        "greater than or equal to 1 (got '0')"
    )


def test_relay_serves_metrics_and_stops_cleanly_on_sigterm(
    serve: Callable[..., subprocess.Popen[str]], tmp_path: Path, kafka_bootstrap: str
) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    port = dead_port()
    process = serve(
        "relay",
        TODO_DATABASE_URL=url,
        TODO_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        TODO_METRICS_PORT=str(port),
    )
    # The pruning thread beside the relay counts its first pass (nothing to prune yet).
    pruned = 'todo_rows_pruned_total{table="processed_events"} 0.0'
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                metrics = response.read().decode().splitlines()
            if pruned in metrics:
                break
        except OSError:
            assert process.poll() is None, "the relay should keep running"
        assert time.monotonic() < deadline, f"no metrics of a pruning pass within {GUARD_S:.0f}s"
        time.sleep(0.2)
    assert "todo_outbox_backlog 0.0" in metrics
    assert 'todo_rows_pruned_total{table="outbox"} 0.0' in metrics
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_migrate_refusing_colliding_usernames_exits_2_naming_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'todo.db'}"
    engine = make_engine(make_settings(url))
    migrate.upgrade(engine, "0003")
    add_users(engine, "alice", "Alice")
    engine.dispose()
    assert _refused(tmp_path, ["migrate"], TODO_DATABASE_URL=url) == (
        "todo-api: usernames are becoming case-insensitive, and 1 group(s) of accounts differ "
        "only in case: 'Alice', 'alice'. Rename or remove all but one account of each group, "
        "then migrate again"
    )
