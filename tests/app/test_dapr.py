"""Dapr's pub/sub contract: subscriptions, and SUCCESS / RETRY / DROP for each delivery."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.core.config import Settings
from app.events.cloudevents import EventKind
from app.main import create_app
from app.models import TaskStatus
from tests.app.conftest import make_settings
from tests.app.helpers import register
from tests.app.test_consumer import event


def _user(client: TestClient) -> tuple[uuid.UUID, dict[str, str]]:
    headers = register(client)
    return uuid.UUID(client.get("/api/v1/auth/me", headers=headers).json()["id"]), headers


def _post(client: TestClient, kind: str, body: bytes | str, **headers: str) -> tuple[int, dict]:
    response = client.post(
        f"/events/task/{kind}",
        content=body,
        headers={"content-type": "application/cloudevents+json", **headers},
    )
    return response.status_code, response.json()


def test_subscribe_lists_one_route_per_topic(client: TestClient) -> None:
    response = client.get("/dapr/subscribe")
    assert response.status_code == 200
    assert response.json() == [
        {"pubsubname": "pubsub", "topic": f"task.{kind}", "route": f"/events/task/{kind}"}
        for kind in ("created", "updated", "deleted", "completed")
    ]


def test_delivery_applies_once_and_answers_success_twice(client: TestClient) -> None:
    user, headers = _user(client)
    created = event(EventKind.CREATED, user, uuid.uuid4(), TaskStatus.PENDING).to_json()
    assert _post(client, "created", created) == (200, {"status": "SUCCESS"})
    assert _post(client, "created", created) == (200, {"status": "SUCCESS"})
    assert client.get("/api/v1/stats", headers=headers).json() == {
        "total": 1,
        "pending": 1,
        "completed": 0,
    }


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("created", b"{not json"),
        ("created", b"\xff\xfe"),
        ("created", b"[1, 2]"),
        ("created", b'{"specversion": "1.0", "id": "x"}'),
        ("updated", None),  # a valid created event posted to the updated route
        ("created", "foreign"),  # a valid CloudEvent of a type we do not know
    ],
)
def test_malformed_or_misrouted_input_is_drop(
    client: TestClient, kind: str, body: bytes | str | None
) -> None:
    user, headers = _user(client)
    valid = event(EventKind.CREATED, user, uuid.uuid4(), TaskStatus.PENDING).to_json()
    payload = {None: valid, "foreign": valid.replace("todo.task.created", "todo.user.created")}
    assert _post(client, kind, payload.get(body, body)) == (200, {"status": "DROP"})
    assert client.get("/api/v1/stats", headers=headers).json()["total"] == 0
    metrics = client.get("/metrics").text.splitlines()
    assert 'todo_events_consumed_total{outcome="drop"} 1.0' in metrics


def test_database_away_is_retry(new_postgres: Callable[..., str], database_url: str) -> None:
    url = new_postgres()
    with TestClient(create_app(make_settings(url))) as client:
        created = event(EventKind.CREATED, uuid.uuid4(), uuid.uuid4(), TaskStatus.PENDING)
        name = url.rsplit("/", 1)[1]
        libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        assert _post(client, "created", created.to_json()) == (200, {"status": "RETRY"})


def test_app_token_is_required_when_configured(settings: Settings) -> None:
    guarded = settings.model_copy(update={"dapr_app_token": SecretStr("sidecar-token")})
    with TestClient(create_app(guarded)) as client:
        created = event(EventKind.CREATED, uuid.uuid4(), uuid.uuid4(), TaskStatus.PENDING)
        body = created.to_json()
        assert _post(client, "created", body) == (
            401,
            {"detail": "missing or wrong dapr-api-token", "errors": []},
        )
        assert _post(client, "created", body, **{"dapr-api-token": "guess"})[0] == 401
        ok = _post(client, "created", body, **{"dapr-api-token": "sidecar-token"})
        assert ok == (200, {"status": "SUCCESS"})
