"""Accounts, on PostgreSQL and SQLite: usernames that differ only in case are one account, and
signing out revokes the token on every authenticated route, across restarts, without Redis."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.main import create_app
from app.models import RevokedToken, utcnow
from tests.app.helpers import PASSWORD, login, register


def test_a_username_in_another_case_is_taken(client: TestClient) -> None:
    register(client, "alice")
    for taken in ("ALICE", "Alice", "alice"):
        response = client.post(
            "/api/v1/auth/register", json={"username": taken, "password": PASSWORD}
        )
        assert response.status_code == 409, taken
        assert response.json() == {"detail": "this username is already taken", "errors": []}


def test_login_matches_the_username_in_any_case_and_keeps_its_spelling(
    client: TestClient,
) -> None:
    register(client, "Alice")
    for spelling in ("alice", "ALICE", "Alice"):
        response = login(client, spelling)
        assert response.status_code == 200, spelling
        token = response.json()["access_token"]
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "Alice"


def _bearer(response_json: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {response_json['access_token']}"}


AUTHENTICATED = [
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{task_id}"),
    ("PATCH", "/api/v1/tasks/{task_id}"),
    ("DELETE", "/api/v1/tasks/{task_id}"),
    ("POST", "/api/v1/tasks/{task_id}/complete"),
    ("GET", "/api/v1/stats"),
]


def test_every_route_documenting_a_401_is_listed_here(client: TestClient) -> None:
    """So that a new authenticated route cannot escape the revocation test below."""
    spec = client.get("/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "401" in operation.get("responses", {})
    }
    # Login refuses a wrong password; Dapr's deliveries refuse a wrong dapr-api-token.
    assert documented == {
        *AUTHENTICATED,
        ("POST", "/api/v1/auth/token"),
        ("POST", "/events/task/{kind}"),
    }


def test_logout_revokes_the_token_on_every_authenticated_route(client: TestClient) -> None:
    register(client, "bob")
    signed_out = _bearer(login(client, "bob").json())
    other_session = _bearer(login(client, "bob").json())
    response = client.post("/api/v1/auth/logout", headers=signed_out)
    assert response.status_code == 204
    for method, path in AUTHENTICATED:
        url = path.format(task_id=uuid.uuid4())
        refused = client.request(method, url, headers=signed_out, json={"title": "x"})
        assert refused.status_code == 401, (method, path)
        assert refused.json() == {"detail": "this token was revoked by signing out", "errors": []}
        assert refused.headers["www-authenticate"] == "Bearer"
    # Only the presented token: the same user's other token still works.
    assert client.get("/api/v1/auth/me", headers=other_session).status_code == 200


def test_logout_without_a_valid_token_is_401(client: TestClient) -> None:
    assert client.post("/api/v1/auth/logout").json() == {
        "detail": "not authenticated",
        "errors": [],
    }
    response = client.post("/api/v1/auth/logout", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or expired token", "errors": []}


def test_a_revoked_token_stays_revoked_after_a_restart(settings: Settings) -> None:
    assert settings.redis_url is None, "the deny-list needs no Redis"
    with TestClient(create_app(settings)) as client:
        headers = register(client, "carol")
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    with TestClient(create_app(settings)) as restarted:
        response = restarted.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["detail"] == "this token was revoked by signing out"


def test_logout_prunes_revocations_whose_tokens_expired(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    now = utcnow()
    expired = [uuid.uuid4() for _ in range(3)]
    live = uuid.uuid4()
    with sessions() as session, session.begin():
        session.add_all(
            [RevokedToken(token_id=t, expires_at=now - timedelta(seconds=1)) for t in expired]
        )
        session.add(RevokedToken(token_id=live, expires_at=now + timedelta(minutes=5)))
    headers = register(client, "dave")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    with sessions() as session:
        kept = set(session.scalars(select(RevokedToken.token_id)))
        assert live in kept
        assert kept.isdisjoint(expired)
        assert session.scalar(select(func.count()).select_from(RevokedToken)) == 2


@pytest.mark.parametrize("username", ["Eve\x00", "e" * 10_000, ""])
def test_odd_usernames_at_login_are_a_4xx_with_a_reason(client: TestClient, username: str) -> None:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
