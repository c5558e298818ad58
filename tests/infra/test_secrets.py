"""The credentials Secret: passwords, the JWT key, the Dapr app token and the URLs that embed
the passwords."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from infra.secrets import (
    Credentials,
    CredentialsArgs,
    dapr_app_token,
    postgres_app_password,
    postgres_backup_password,
    postgres_monitor_password,
)
from tests.infra.manifests import Manifest, build, named, of_kind


def _build(
    password: str = "pa ss/word@1234567", *, jwt: str = "j" * 40, dapr_sidecars: bool = False
) -> list[Manifest]:
    args = CredentialsArgs(
        namespace="todo-test",
        instance="todo",
        postgres_password=SecretStr(password),
        redis_password=SecretStr("redis-password-123456"),
        jwt_secret=SecretStr(jwt),
        postgres_host="todo-postgres.todo-test.svc.cluster.local",
        postgres_port=5432,
        postgres_database="todo",
        postgres_user="todo",
        postgres_app_user="todo_app",
        postgres_monitor_user="todo_monitor",
        postgres_backup_user="todo_backup",
        redis_host="todo-redis.todo-test.svc.cluster.local",
        redis_port=6379,
        redis_exporter_target="redis://127.0.0.1:6379",
        dapr_sidecars=dapr_sidecars,
    )
    return build(lambda: Credentials("t", args))


def _data(password: str = "pa ss/word@1234567", *, jwt: str = "j" * 40) -> dict[str, Any]:
    secret = named(_build(password, jwt=jwt), "Secret", "todo-credentials")
    assert secret["type"] == "Opaque"
    data: dict[str, Any] = secret["stringData"]
    return data


def test_secret_holds_passwords_and_the_urls_that_embed_them() -> None:
    data = _data()
    assert set(data) == {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "REDIS_EXPORTER_PASSWORDS",
        "TODO_JWT_SECRET",
        "TODO_DAPR_APP_TOKEN",
        "TODO_DATABASE_URL",
        "TODO_DATABASE_ADMIN_URL",
        "TODO_DATABASE_MONITOR_URL",
        "TODO_DATABASE_BACKUP_URL",
        "POSTGRES_MONITOR_PASSWORD",
        "POSTGRES_BACKUP_PASSWORD",
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
    assert "p%40ss%3Aw%2Frd%2312345678@" in data["TODO_DATABASE_ADMIN_URL"]
    assert urlsplit(data["TODO_DATABASE_ADMIN_URL"]).port == 5432
    assert data["POSTGRES_PASSWORD"] == "p@ss:w/rd#12345678"


def test_the_service_connects_as_the_app_role_the_migration_as_the_administrator() -> None:
    data = _data("administrator-password-1234")
    admin, app = urlsplit(data["TODO_DATABASE_ADMIN_URL"]), urlsplit(data["TODO_DATABASE_URL"])
    assert (admin.username, admin.password) == ("todo", "administrator-password-1234")
    assert app.username == "todo_app"
    assert app.password == postgres_app_password(SecretStr("administrator-password-1234"))
    assert (app.hostname, app.port, app.path) == (admin.hostname, admin.port, admin.path)


def test_the_exporter_and_the_backup_log_in_as_their_own_roles() -> None:
    data = _data("administrator-password-1234")
    admin = urlsplit(data["TODO_DATABASE_ADMIN_URL"])
    secret = SecretStr("administrator-password-1234")
    for key, user, password in [
        ("TODO_DATABASE_MONITOR_URL", "todo_monitor", postgres_monitor_password(secret)),
        ("TODO_DATABASE_BACKUP_URL", "todo_backup", postgres_backup_password(secret)),
    ]:
        url = urlsplit(data[key])
        assert (url.username, url.password) == (user, password)
        assert (url.hostname, url.port, url.path) == (admin.hostname, admin.port, admin.path)
    assert data["POSTGRES_MONITOR_PASSWORD"] == postgres_monitor_password(secret)
    assert data["POSTGRES_BACKUP_PASSWORD"] == postgres_backup_password(secret)
    derived = {
        postgres_app_password(secret),
        postgres_monitor_password(secret),
        postgres_backup_password(secret),
    }
    assert len(derived) == 3, "each role its own password"
    assert "administrator-password-1234" not in "".join(derived)


def test_the_app_role_password_is_derived_one_way_from_the_database_password() -> None:
    password = postgres_app_password(SecretStr("p" * 20))
    assert len(password) == 64
    assert "p" * 8 not in password
    assert password == postgres_app_password(SecretStr("p" * 20)), "stable across runs"
    assert password != postgres_app_password(SecretStr("q" * 20)), "follows the password"
    assert password != dapr_app_token(SecretStr("p" * 20)), "its own label"


def test_dapr_app_token_is_derived_one_way_from_the_jwt_key() -> None:
    token = _data(jwt="j" * 40)["TODO_DAPR_APP_TOKEN"]
    assert len(token) == 64
    assert int(token, 16) >= 0
    assert "j" * 8 not in token
    assert token == _data(jwt="j" * 40)["TODO_DAPR_APP_TOKEN"], "stable across runs"
    assert token != _data(jwt="k" * 40)["TODO_DAPR_APP_TOKEN"], "follows the key"


def test_dapr_injector_reads_the_same_token_from_its_own_secret() -> None:
    manifests = _build(dapr_sidecars=True)
    injector = named(manifests, "Secret", "todo-dapr-app-token")
    assert injector["type"] == "Opaque"
    assert injector["stringData"] == {"token": dapr_app_token(SecretStr("j" * 40))}
    credentials = named(manifests, "Secret", "todo-credentials")["stringData"]
    assert credentials["TODO_DAPR_APP_TOKEN"] == injector["stringData"]["token"]


def test_no_injector_secret_without_dapr_sidecars() -> None:
    names = [m["metadata"]["name"] for m in of_kind(_build(), "Secret")]
    assert names == ["todo-credentials"]


def test_redis_exporter_gets_its_password_as_the_map_it_reads() -> None:
    """redis_exporter's password file is JSON: the address it scrapes -> that server's password."""
    assert json.loads(_data()["REDIS_EXPORTER_PASSWORDS"]) == {
        "redis://127.0.0.1:6379": "redis-password-123456"
    }
