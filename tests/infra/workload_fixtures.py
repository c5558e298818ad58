"""Args of the app workloads as the platform would build them, for the component tests."""

from __future__ import annotations

from typing import Any

from infra.backend import BackendArgs
from infra.frontend import FrontendArgs
from infra.relay import RelayArgs

API_IMAGE = "ghcr.io/example/todo-api:0.1.0"
COMMON: dict[str, Any] = {"namespace": "todo-app", "instance": "todo"}


def backend_args(**overrides: Any) -> BackendArgs:
    values: dict[str, Any] = {
        **COMMON,
        "image": API_IMAGE,
        "service_account_name": "todo-api",
        "config_map_name": "todo-settings",
        "secret_name": "todo-credentials",
        "postgres_host": "todo-postgresql",
        "wait_image": "postgres:16.6-alpine",
        "dapr_config_name": "todo-dapr",
    }
    return BackendArgs(**{**values, **overrides})


def relay_args(**overrides: Any) -> RelayArgs:
    values: dict[str, Any] = {
        **COMMON,
        "image": API_IMAGE,
        "service_account_name": "todo-api",
        "config_map_name": "todo-settings",
        "secret_name": "todo-credentials",
    }
    return RelayArgs(**{**values, **overrides})


def frontend_args(**overrides: Any) -> FrontendArgs:
    values: dict[str, Any] = {
        **COMMON,
        "service_account_name": "todo-web",
    }
    return FrontendArgs(**{**values, **overrides})
