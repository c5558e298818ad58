"""Auth contract, on PostgreSQL and SQLite: registration, login, and every way a token fails.

Login throttling is in test_login_throttle, case-insensitive names and signing out in
test_accounts."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import SECRET
from tests.app.helpers import PASSWORD, login, register


def _login(client: TestClient, username: str, password: str = PASSWORD) -> tuple[int, dict]:
    response = login(client, username, password)
    return response.status_code, response.json()


def test_register_issues_a_working_token(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register", json={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_register_twice_is_409_naming_the_username(client: TestClient) -> None:
    register(client, "bob")
    response = client.post("/api/v1/auth/register", json={"username": "bob", "password": PASSWORD})
    assert response.status_code == 409
    assert response.json() == {"detail": "this username is already taken", "errors": []}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "ab", "password": PASSWORD}, "username"),
        ({"username": "has space", "password": PASSWORD}, "username"),
        # The pattern is the whole rule: spaces around a name are refused, not trimmed.
        ({"username": " carol", "password": PASSWORD}, "username"),
        ({"username": "carol", "password": "short"}, "password"),
        ({"password": PASSWORD}, "username"),
    ],
)
def test_register_rejects_bad_input_naming_the_field(
    client: TestClient, payload: dict, field: str
) -> None:
    response = client.post("/api/v1/auth/register", json=payload)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", field]]


def test_password_login_issues_a_token_for_the_user(client: TestClient) -> None:
    register(client, "dave")
    status, body = _login(client, "dave")
    assert status == 200
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert claims["sub"] == me.json()["id"]
    assert claims["exp"] > claims["iat"]
    assert uuid.UUID(claims["jti"]), "each token has an id, which signing out revokes"


@pytest.mark.parametrize("username", ["erin", "nobody"])
def test_wrong_password_or_unknown_user_is_the_same_401(client: TestClient, username: str) -> None:
    register(client, "erin")
    status, body = _login(client, username, "wrong password")
    assert status == 401
    assert body == {"detail": "incorrect username or password", "errors": []}


def _token(claims: dict, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bad_tokens(user_id: str) -> dict[str, str]:
    now = datetime.now(UTC)
    jti = str(uuid.uuid4())
    exp = now + timedelta(minutes=5)
    valid = {"sub": user_id, "jti": jti, "exp": exp}
    return {
        "expired": _token({**valid, "exp": now - timedelta(seconds=1)}),
        "other key": _token(valid, key="another-key-0123456789abcdef0123456789"),
        "alg none": _unsigned({**valid, "exp": int(exp.timestamp())}),
        "HS512": _token(valid, algorithm="HS512"),
        "no exp": _token({"sub": user_id, "jti": jti}),
        "no sub": _token({"jti": jti, "exp": exp}),
        "no jti": _token({"sub": user_id, "exp": exp}),
        "jti not a uuid": _token({**valid, "jti": "1"}),
        "unknown user": _token({**valid, "sub": str(uuid.uuid4())}),
        "garbage": "not.a.token",
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "other key",
        "alg none",
        "HS512",
        "no exp",
        "no sub",
        "no jti",
        "jti not a uuid",
        "unknown user",
        "garbage",
    ],
)
def test_bad_tokens_are_401(client: TestClient, case: str) -> None:
    headers = register(client, "heidi")
    user_id = client.get("/api/v1/auth/me", headers=headers).json()["id"]
    token = _bad_tokens(user_id)[case]
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or expired token", "errors": []}
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_valid_token_built_the_same_way_is_accepted(client: TestClient) -> None:
    """The counterpart of the bad-token cases: proves they fail for their flaw alone."""
    headers = register(client, "ivan")
    user_id = client.get("/api/v1/auth/me", headers=headers).json()["id"]
    exp = datetime.now(UTC) + timedelta(minutes=5)
    token = _token({"sub": user_id, "jti": str(uuid.uuid4()), "exp": exp})
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_no_token_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.json() == {"detail": "not authenticated", "errors": []}
