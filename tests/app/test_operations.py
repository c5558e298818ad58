"""Health, readiness, metrics, OpenAPI, request ids, JSON logs, 503 when the database is away."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from datetime import timedelta

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text, update

from app import migrate
from app.core.config import Settings
from app.core.logs import JsonFormatter, request_id_var
from app.main import create_app
from app.models import OutboxEvent, utcnow
from bench.processes import ApiServer, ServiceEnv
from tests.app.conftest import make_settings
from tests.app.helpers import create_task, dead_port, register


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": "ok",
        "schema": "current",
        "cache": "disabled",
    }


def test_readyz_is_unavailable_while_the_schema_is_behind(
    settings: Settings, engine: Engine
) -> None:
    """Migrations run elsewhere (TODO_MIGRATE_ON_START=false) and the schema falls behind: every
    call would fail on it, so the pod must leave the load balancer, saying why."""
    elsewhere = settings.model_copy(update={"migrate_on_start": False})
    with TestClient(create_app(elsewhere)) as client:
        migrate.downgrade(engine, "0001")
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json() == {
            "status": "unavailable",
            "database": "ok",
            "schema": "behind",
            "cache": "disabled",
            "reason": "the database schema is at 0001, this version needs 0007; "
            "run `todo-api migrate`",
        }
        assert (client.head("/readyz").status_code, client.head("/readyz").content) == (503, b"")
        migrate.upgrade(engine)
        assert client.get("/readyz").json()["schema"] == "current"
        # A revision we do not know was applied by a newer version (a rolling update): its
        # migrations keep this version working, so it stays ready.
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        ahead = client.get("/readyz")
        assert (ahead.status_code, ahead.json()["schema"]) == (200, "ahead")


def test_an_app_brings_a_database_that_is_behind_up_to_date(
    settings: Settings, engine: Engine
) -> None:
    migrate.downgrade(engine, "base")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["schema"] == "current"
        headers = register(client)
        assert create_task(client, headers)["title"] == "a task"


def test_openapi_describes_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/tasks", "/api/v1/tasks/{task_id}", "/api/v1/tasks/{task_id}/complete"} <= set(
        paths
    )
    assert {"/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/stats"} <= set(paths)
    assert {"/dapr/subscribe", "/events/task/{kind}", "/healthz", "/readyz"} <= set(paths)


def test_head_on_the_health_routes_answers_their_status_without_a_body(
    client: TestClient,
) -> None:
    for path in ("/healthz", "/readyz"):
        response = client.head(path)
        assert (response.status_code, response.content) == (200, b"")


def _raw_request(port: int, method: str, path: str) -> tuple[str, bytes]:
    """A request declaring a 2 MB body it never sends: the status line and the body answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        headers = "Host: 127.0.0.1\r\nContent-Length: 2000000\r\n"
        connection.sendall(f"{method} {path} HTTP/1.1\r\n{headers}\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):  # the 413 closes the connection
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode().split("\r\n")[0], body


def test_a_413_to_head_has_no_body_as_documented(db_url: str) -> None:
    """`todo-api serve` itself (the test client would hide what the server sends): a HEAD's
    413 carries no body, a GET's the envelope; the document says the same of each."""
    env = ServiceEnv(database_url=db_url, redis_url=None, kafka_bootstrap=None)
    with ApiServer(env, name="head-413") as server:
        for path in ("/healthz", "/readyz"):
            assert _raw_request(server.port, "HEAD", path) == (
                "HTTP/1.1 413 Request Entity Too Large",
                b"",
            )
            status, body = _raw_request(server.port, "GET", path)
            assert status.startswith("HTTP/1.1 413")
            assert set(json.loads(body)) == {"detail", "errors"}
        spec = httpx.get(f"{server.base_url}/openapi.json").json()
    for path in ("/healthz", "/readyz"):
        assert "content" not in spec["paths"][path]["head"]["responses"]["413"]
        assert "content" in spec["paths"][path]["get"]["responses"]["413"]


def test_a_method_a_path_lacks_is_405_naming_every_method_it_has(client: TestClient) -> None:
    """Starlette named only the methods of the first route matching the path."""
    cases = {
        "/api/v1/tasks": "GET, POST",
        "/api/v1/tasks/0b9a4f1e-1d35-4d8e-9a3e-2a1f3b8f6c11": "DELETE, GET, PATCH",
        "/healthz": "GET, HEAD",
    }
    for path, allowed in cases.items():
        for method in ("OPTIONS", "PUT", "TRACE"):
            response = client.request(method, path)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == allowed, (method, path)
            assert set(response.json()) == {"detail", "errors"}


def test_every_documented_error_is_the_one_envelope(client: TestClient) -> None:
    """FastAPI's own 422 shape (HTTPValidationError) is never answered, so never documented."""
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) < 400 or (path == "/readyz" and code == "503"):
                    continue
                assert "413" in operation["responses"], (method, path)
                if method == "head":
                    assert "content" not in response, (path, code)
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)


def test_metrics_are_documented_as_prometheus_text(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]


def test_metrics_count_requests_by_route_and_the_outbox_backlog(settings: Settings) -> None:
    # A broker is configured and its relay runs elsewhere, so the event stays in the outbox.
    cluster = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{dead_port()}"})
    with TestClient(create_app(cluster)) as client:
        headers = register(client)
        task = create_task(client, headers)
        client.get(f"/api/v1/tasks/{task['id']}", headers=headers)
        client.get("/no/such/path")
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        lines = response.text.splitlines()
        route = "/api/v1/tasks/{task_id}"
        assert f'todo_http_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in lines
        assert 'todo_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in lines
        assert any(line.startswith("todo_http_request_duration_seconds_bucket{") for line in lines)
        assert "todo_outbox_backlog 1.0" in lines


def _gauge(client: TestClient, name: str) -> float:
    (value,) = [
        float(line.split()[1])
        for line in client.get("/metrics").text.splitlines()
        if line.split(" ", 1)[0] == name
    ]
    return value


def test_metrics_give_the_age_of_the_oldest_unpublished_event(
    settings: Settings, engine: Engine
) -> None:
    """The backlog age alert reads this gauge: 0 with nothing waiting, then the oldest
    pending row's age, however few rows wait."""
    cluster = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{dead_port()}"})
    with TestClient(create_app(cluster)) as client:
        assert _gauge(client, "todo_outbox_oldest_age_seconds") == 0.0
        headers = register(client)
        create_task(client, headers)
        create_task(client, headers)
        with engine.begin() as connection:
            connection.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == select(func.min(OutboxEvent.id)).scalar_subquery())
                .values(created_at=utcnow() - timedelta(minutes=10))
            )
        assert _gauge(client, "todo_outbox_backlog") == 2.0
        age = _gauge(client, "todo_outbox_oldest_age_seconds")
        # From the row's time: a floor of ten minutes, and an hour of slack for a slow machine.
        assert 600.0 <= age < 600.0 + 3600.0


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


def test_logs_are_json_with_the_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "app.test", "levelname": "INFO", "msg": "hello %s", "args": ("world",)}
    )
    record.route = "/x"
    token = request_id_var.set("req-9")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "app.test"
    assert entry["request_id"] == "req-9"
    assert entry["route"] == "/x"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/tasks"), ("POST", "/api/v1/tasks"), ("GET", "/api/v1/stats")],
)
def test_database_away_answers_503_not_500(
    new_postgres: Callable[..., str], database_url: str, method: str, path: str
) -> None:
    url = new_postgres()
    with TestClient(create_app(make_settings(url)), raise_server_exceptions=False) as client:
        headers = register(client)
        libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        response = client.request(method, path, json={"title": "t"}, headers=headers)
        assert response.status_code == 503
        assert response.json() == {
            "detail": "database unavailable, try again shortly",
            "errors": [],
        }
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "database": "down",
            "schema": "unknown",
            "cache": "disabled",
            "reason": "the database does not answer",
        }
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200
