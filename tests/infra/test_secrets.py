"""The credentials Secret: passwords, the JWT key and the URLs that embed them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from infra.secrets import Credentials, CredentialsArgs
from tests.infra.manifests import build, named


def _data(password: str = "pa ss/word@1234567") -> dict[str, Any]:
    args = CredentialsArgs(
        namespace="todo-test",
        instance="todo",
        postgres_password=SecretStr(password),
        redis_password=SecretStr("redis-password-123456"),
        jwt_secret=SecretStr("j" * 40),
        postgres_host="todo-postgres.todo-test.svc.cluster.local",
        postgres_port=5432,
        postgres_database="todo",
        postgres_user="todo",
        redis_host="todo-redis.todo-test.svc.cluster.local",
        redis_port=6379,
    )
    secret = named(build(lambda: Credentials("t", args)), "Secret", "todo-credentials")
    assert secret["type"] == "Opaque"
    data: dict[str, Any] = secret["stringData"]
    return data


def test_secret_holds_passwords_and_the_urls_that_embed_them() -> None:
    data = _data()
    assert set(data) == {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "TODO_JWT_SECRET",
        "TODO_DATABASE_URL",
        "TODO_REDIS_URL",
    }
    database = urlsplit(data["TODO_DATABASE_URL"])
    assert database.scheme == "postgresql+psycopg"
    assert database.hostname == "todo-postgres.todo-test.svc.cluster.local"
    assert database.path == "/todo"
    assert data["TODO_REDIS_URL"].endswith("@todo-redis.todo-test.svc.cluster.local:6379/0")
    assert data["TODO_JWT_SECRET"] == "j" * 40


def test_passwords_are_escaped_in_urls() -> None:
    data = _data("p@ss:w/rd#12345678")
    assert "p%40ss%3Aw%2Frd%2312345678@" in data["TODO_DATABASE_URL"]
    assert urlsplit(data["TODO_DATABASE_URL"]).port == 5432
    assert data["POSTGRES_PASSWORD"] == "p@ss:w/rd#12345678"
