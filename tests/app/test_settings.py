"""Settings: the embedded default, and the errors that name the variable at fault."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import EMBEDDED_DATABASE_URL, Settings, setting_errors

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


def test_secret_settings_may_come_from_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # As Kubernetes mounts a Secret key; the trailing line break of an edited file is dropped.
    for name, value in (
        ("TODO_DATABASE_URL", POSTGRES),
        ("TODO_JWT_SECRET", "f" * 40),
        ("TODO_REDIS_URL", "redis://:p@cache:6379/0"),
        ("TODO_DAPR_APP_TOKEN", "t" * 64),
    ):
        (tmp_path / name).write_text(value + "\n")
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
    settings = Settings()
    assert settings.database_url == POSTGRES
    assert settings.signing_key == "f" * 40
    assert settings.redis_url == "redis://:p@cache:6379/0"
    assert settings.dapr_app_token is not None
    assert settings.dapr_app_token.get_secret_value() == "t" * 64


def test_a_file_secret_is_validated_like_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "jwt").write_text("changeme")
    monkeypatch.setenv("TODO_JWT_SECRET_FILE", str(tmp_path / "jwt"))
    with pytest.raises(ValidationError, match="at least 32 random characters"):
        Settings(database_url=POSTGRES)


def test_a_variable_and_its_file_together_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "jwt").write_text("f" * 40)
    monkeypatch.setenv("TODO_JWT_SECRET_FILE", str(tmp_path / "jwt"))
    monkeypatch.setenv("TODO_JWT_SECRET", "e" * 40)
    with pytest.raises(ValueError, match="set TODO_JWT_SECRET or TODO_JWT_SECRET_FILE, not both"):
        Settings()


def test_a_missing_secret_file_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TODO_DATABASE_URL_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match=r"TODO_DATABASE_URL_FILE='.*absent' cannot be read"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TODO_LOG_LEVEL", "loud"),
        ("TODO_RELAY_BATCH_SIZE", "0"),
        ("TODO_JWT_TTL_MINUTES", "x"),
        ("TODO_OUTBOX_RETENTION_HOURS", "0"),
        ("TODO_PROCESSED_EVENT_RETENTION_HOURS", "87601"),
        ("TODO_PRUNE_INTERVAL_SECONDS", "0"),
        ("TODO_PRUNE_BATCH_SIZE", "many"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("TODO_").lower()):
        Settings()


def test_setting_errors_name_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TODO_OUTBOX_RETENTION_HOURS", "0")
    monkeypatch.setenv("TODO_PRUNE_BATCH_SIZE", "many")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert setting_errors(caught.value) == [
        "TODO_OUTBOX_RETENTION_HOURS: Input should be greater than or equal to 1 (got '0')",
        "TODO_PRUNE_BATCH_SIZE: Input should be a valid integer, unable to parse string as an "
        "integer (got 'many')",
    ]


def test_setting_errors_never_repeat_a_credential() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"database_url": ["postgresql://todo:hunter2@db/todo"]})
    (line,) = setting_errors(caught.value)
    assert line.startswith("TODO_DATABASE_URL: ")
    assert "hunter2" not in line
