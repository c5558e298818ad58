"""The settings ConfigMap: the service's TODO_* variables, never a secret."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from infra.app_config import AppConfig, AppConfigArgs, AppSettings
from infra.network_policies import POD_NETWORKS
from stacks.render import Rendered
from tests.infra.manifests import build, named


def _data(settings: AppSettings, *, ingress_networks: tuple[str, ...] = ()) -> dict[str, str]:
    args = AppConfigArgs(
        namespace="todo-test",
        instance="todo",
        settings=settings,
        kafka_bootstrap="k:9092",
        database_migration_role="todo_migrator",
        ingress_networks=ingress_networks,
    )
    data: dict[str, str] = named(build(lambda: AppConfig("t", args)), "ConfigMap", "todo-settings")[
        "data"
    ]
    return data


def test_settings_configmap_holds_the_service_settings() -> None:
    settings = AppSettings(
        log_level="warning",
        features={"dark_mode": True, "beta": False},
        outbox_retention_hours=48,
        processed_event_retention_hours=400,
    )
    assert _data(settings) == {
        "TODO_KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        "TODO_DATABASE_MIGRATION_ROLE": "todo_migrator",
        "TODO_LOG_LEVEL": "warning",
        "TODO_RELAY_IN_PROCESS": "false",
        "TODO_MIGRATE_ON_START": "false",
        "TODO_OUTBOX_RETENTION_HOURS": "48",
        "TODO_PROCESSED_EVENT_RETENTION_HOURS": "400",
        "TODO_FORWARDED_ALLOW_IPS": "127.0.0.1",
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


def test_behind_network_policies_only_the_ingress_networks_are_believed() -> None:
    data = _data(AppSettings(), ingress_networks=("10.0.0.0/8", "35.191.0.0/16"))
    assert data["TODO_FORWARDED_ALLOW_IPS"] == "10.0.0.0/8,35.191.0.0/16"


def test_without_network_policies_the_pod_trusts_only_itself() -> None:
    assert _data(AppSettings())["TODO_FORWARDED_ALLOW_IPS"] == "127.0.0.1"


def test_a_stack_may_name_its_trusted_proxies() -> None:
    settings = AppSettings(forwarded_allow_ips="10.244.0.0/16, 127.0.0.1")
    data = _data(settings, ingress_networks=POD_NETWORKS)
    assert data["TODO_FORWARDED_ALLOW_IPS"] == "10.244.0.0/16, 127.0.0.1"


@pytest.mark.parametrize(
    ("value", "entry"), [("10.0.0.1/8", "10.0.0.1/8"), ("127.0.0.1,ingress", "ingress")]
)
def test_forwarded_allow_ips_must_be_addresses_or_networks(value: str, entry: str) -> None:
    with pytest.raises(ValidationError, match=rf"forwardedAllowIps entry '{entry}' is not an IP"):
        AppSettings(forwarded_allow_ips=value)


def test_stacks_trust_the_ingress_only_where_network_policies_guard_the_api(
    stacks: dict[str, Rendered],
) -> None:
    for stack, trusted in (
        ("dev", "127.0.0.1"),
        ("staging", ",".join(POD_NETWORKS)),
        ("prod", ",".join(POD_NETWORKS)),
    ):
        manifests = stacks[stack].manifests()
        data = named(manifests, "ConfigMap", "todo-settings")["data"]
        assert data["TODO_FORWARDED_ALLOW_IPS"] == trusted, stack
        assert "*" not in data["TODO_FORWARDED_ALLOW_IPS"], stack


def _client_seen_by_the_api(trusted: str, peer: str, forwarded_for: str) -> str:
    """The client address uvicorn's proxy-header handling gives the app (as `serve` runs it)."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    scope = {
        "type": "http",
        "client": (peer, 40000),
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
    }
    asyncio.run(ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, None, None))
    return seen[0]


def test_an_appended_forwarded_header_cannot_choose_the_client_address(
    stacks: dict[str, Rendered],
) -> None:
    # A proxy that appends: the client wrote the first entry, the controller (a pod) the last.
    data = named(stacks["prod"].manifests(), "ConfigMap", "todo-settings")["data"]
    trusted = data["TODO_FORWARDED_ALLOW_IPS"]
    assert _client_seen_by_the_api(trusted, "10.52.1.4", "6.6.6.6, 203.0.113.7") == "203.0.113.7"
    # What trusting every peer would have done: believe the client's own claim.
    assert _client_seen_by_the_api("*", "10.52.1.4", "6.6.6.6, 203.0.113.7") == "6.6.6.6"
