"""Settings: the embedded default, and the errors that name the variable at fault."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from app.core.config import EMBEDDED_DATABASE_URL, Settings

POSTGRES = "postgresql+psycopg://todo:todo@db:5432/todo"


def test_embedded_default_generates_a_development_key_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = Settings()
    assert settings.database_url == EMBEDDED_DATABASE_URL
    assert settings.redis_url is None
    assert settings.kafka_bootstrap_servers is None
    assert len(settings.signing_key) >= 48
    assert Settings().signing_key != settings.signing_key
    assert "DEVELOPMENT signing key" in caplog.text


def test_outside_the_default_a_missing_secret_is_an_error_where_tokens_are_signed() -> None:
    # The workers (migrate, relay, consume) read these settings and never sign a token.
    settings = Settings(database_url=POSTGRES)
    with pytest.raises(ValueError, match="TODO_JWT_SECRET is required"):
        _ = settings.signing_key


@pytest.mark.parametrize("secret", ["changeme", "short-secret", "x" * 31])
def test_outside_the_default_a_weak_secret_is_an_error(secret: str) -> None:
    with pytest.raises(ValidationError, match=r"at least 32 random characters \(got \d+"):
        Settings(database_url=POSTGRES, jwt_secret=secret)


def test_environment_variables_use_the_todo_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("TODO_JWT_SECRET", "k" * 40)
    monkeypatch.setenv("TODO_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("TODO_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("TODO_LOG_LEVEL", "debug")
    monkeypatch.setenv("TODO_RELAY_IN_PROCESS", "true")
    settings = Settings()
    assert settings.database_url == POSTGRES
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.log_level == "DEBUG"
    assert settings.relay_in_process is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TODO_LOG_LEVEL", "loud"), ("TODO_RELAY_BATCH_SIZE", "0"), ("TODO_JWT_TTL_MINUTES", "x")],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("TODO_").lower()):
        Settings()
