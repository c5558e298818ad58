"""The settings ConfigMap: the service's TODO_* variables, never a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.app_config import AppConfig, AppConfigArgs, AppSettings
from tests.infra.manifests import build, named


def _data(settings: AppSettings) -> dict[str, str]:
    args = AppConfigArgs(
        namespace="todo-test", instance="todo", settings=settings, kafka_bootstrap="k:9092"
    )
    data: dict[str, str] = named(build(lambda: AppConfig("t", args)), "ConfigMap", "todo-settings")[
        "data"
    ]
    return data


def test_settings_configmap_holds_the_service_settings() -> None:
    settings = AppSettings(log_level="warning", features={"dark_mode": True, "beta": False})
    assert _data(settings) == {
        "TODO_KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        "TODO_LOG_LEVEL": "warning",
        "TODO_RELAY_IN_PROCESS": "false",
        "TODO_FEATURE_BETA": "false",
        "TODO_FEATURE_DARK_MODE": "true",
    }


def test_no_secret_lands_in_the_configmap() -> None:
    for key in _data(AppSettings()):
        assert "PASSWORD" not in key
        assert "SECRET" not in key
        assert "URL" not in key


def test_feature_names_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"feature name 'Dark Mode' must be lower-case"):
        AppSettings(features={"Dark Mode": True})
