"""A stack's Dapr objects, converted by code into what self-hosted ``daprd`` reads.

The Dapr tests (``tests/dapr``) and the benchmark's Dapr leg (``bench/events.py``) both run daprd
with it. The source is the program's render of a stack (its Components, Configuration, backend pod
annotations and Secret), so what daprd runs with here is what the stack deploys, never a copy
kept by hand. What changes, and why:

- Addresses: ``redisHost`` and ``brokers`` point at the development Redis and Kafka.
- ``consumerGroup``: a name of the caller's, so runs sharing the development broker never join
  one group with different topic lists.
- The secret store. Every Component keeps ``auth.secretStore: kubernetes`` and its
  ``secretKeyRef``; in a cluster Dapr's operator resolves those from the namespace's Secrets.
  Self-hosted daprd has no operator and no Kubernetes secret store, so the conversion adds a
  ``secretstores.local.file`` Component *named* ``kubernetes`` that reads a JSON file holding
  the development servers' credentials under the stack's own Secret names and keys. Each
  reference must name a key the stack's Secret has; the value it resolves to is the development
  server's, not the stack's. What this checks is the references and Dapr's reading of them, not
  the operator's access to Secrets.
- Namespaces are dropped (self-hosted daprd has none) and the ports are the caller's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from redis import Redis

from infra.backend import APP_NAME
from infra.dapr.components import SECRET_STORE
from infra.secrets import DAPR_INJECTOR_TOKEN_KEY, REDIS_PASSWORD_KEY

Manifest = dict[str, Any]

DAPR_API = "dapr.io/v1alpha1"
SECRETS_FILE = "secrets.json"
CONFIG_FILE = "config.yaml"
RESOURCES_FOLDER = "resources"
BACKEND_APP_ID = APP_NAME
"""The backend's ``dapr.io/app-id``, the app the stack's Components are scoped to."""


class ConversionError(ValueError):
    """The render holds something self-hosted daprd cannot be given as it stands."""


@dataclass(frozen=True)
class DevServers:
    """Where the converted Components connect, and the credentials they are given."""

    redis_address: str
    kafka_bootstrap: str
    secrets: Mapping[str, str]
    """A value for each Secret key a ``secretKeyRef`` may name (e.g. ``REDIS_PASSWORD``)."""

    @classmethod
    def at(cls, redis_url: str, kafka_bootstrap: str) -> DevServers:
        """The servers the service itself is given, with the Redis password its URL carries."""
        redis = Redis.from_url(redis_url)
        address = redis.connection_pool.connection_kwargs
        redis.close()
        return cls(
            redis_address=f"{address['host']}:{address['port']}",
            kafka_bootstrap=kafka_bootstrap,
            secrets={REDIS_PASSWORD_KEY: address.get("password") or ""},
        )


@dataclass(frozen=True)
class SelfHostedApp:
    """One Dapr-enabled app of the stack, ready for ``daprd``."""

    app_id: str
    app_protocol: str
    app_token_secret: str | None
    config_path: Path
    resources_path: Path
    components: tuple[str, ...]


def _named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _dapr_pod_annotations(manifests: list[Manifest], app_id: str) -> dict[str, str]:
    for workload in manifests:
        annotations = (
            workload.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations")
        )
        if annotations and annotations.get("dapr.io/app-id") == app_id:
            return dict(annotations)
    raise ConversionError(f"no pod of the stack runs the Dapr app {app_id!r}")


def _secret_keys(manifests: list[Manifest]) -> dict[str, set[str]]:
    return {
        name: set(secret.get("data") or {}) | set(secret.get("stringData") or {})
        for name, secret in _named(manifests, "Secret").items()
    }


def _resolve_refs(
    component: Manifest, stack_secrets: dict[str, set[str]], servers: DevServers
) -> dict[str, dict[str, str]]:
    """The development values of the component's ``secretKeyRef``, by Secret name and key."""
    name = component["metadata"]["name"]
    store = (component.get("auth") or {}).get("secretStore")
    resolved: dict[str, dict[str, str]] = {}
    for item in component["spec"].get("metadata", []):
        ref = item.get("secretKeyRef")
        if ref is None:
            continue
        if store != SECRET_STORE:
            raise ConversionError(
                f"Component {name}: secretKeyRef {ref} with auth.secretStore {store!r}; "
                f"only {SECRET_STORE!r} is converted"
            )
        if ref["key"] not in stack_secrets.get(ref["name"], set()):
            raise ConversionError(
                f"Component {name}: metadata {item['name']} refers to key {ref['key']!r} of "
                f"Secret {ref['name']!r}, which the stack does not create"
            )
        if ref["key"] not in servers.secrets:
            raise ConversionError(
                f"Component {name}: no development value for Secret key {ref['key']!r}"
            )
        resolved.setdefault(ref["name"], {})[ref["key"]] = servers.secrets[ref["key"]]
    return resolved


def _pointed_at(component: Manifest, servers: DevServers, consumer_group: str) -> Manifest:
    local = copy.deepcopy(component)
    local["metadata"] = {"name": component["metadata"]["name"]}
    replacements = {
        "redisHost": servers.redis_address,
        "brokers": servers.kafka_bootstrap,
        "consumerGroup": consumer_group,
    }
    for item in local["spec"].get("metadata", []):
        if item["name"] in replacements:
            item["value"] = replacements[item["name"]]
    return local


def _secret_store(secrets_file: Path, scopes: list[str]) -> Manifest:
    return {
        "apiVersion": DAPR_API,
        "kind": "Component",
        "metadata": {"name": SECRET_STORE},
        "spec": {
            "type": "secretstores.local.file",
            "version": "v1",
            "metadata": [
                {"name": "secretsFile", "value": str(secrets_file)},
                # Top-level names are Secrets and their members the keys, as in Kubernetes.
                {"name": "multiValued", "value": "true"},
            ],
        },
        "scopes": scopes,
    }


def _write_yaml(path: Path, obj: Manifest) -> None:
    path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")


def convert(
    manifests: list[Manifest],
    *,
    app_id: str,
    servers: DevServers,
    consumer_group: str,
    folder: Path,
) -> SelfHostedApp:
    """Write the Dapr objects the stack gives app ``app_id`` under ``folder`` for daprd."""
    annotations = _dapr_pod_annotations(manifests, app_id)
    components = [
        c
        for c in _named(manifests, "Component").values()
        if c["apiVersion"] == DAPR_API and app_id in (c.get("scopes") or [app_id])
    ]
    if not components:
        raise ConversionError(f"the stack gives the Dapr app {app_id!r} no Component")
    config_name = annotations["dapr.io/config"]
    configuration = _named(manifests, "Configuration").get(config_name)
    if configuration is None:
        raise ConversionError(
            f"the pod of {app_id!r} names Configuration {config_name!r}, which the stack lacks"
        )

    stack_secrets = _secret_keys(manifests)
    token_secret = annotations.get("dapr.io/app-token-secret")
    if token_secret is not None and DAPR_INJECTOR_TOKEN_KEY not in stack_secrets.get(
        token_secret, set()
    ):
        raise ConversionError(
            f"dapr.io/app-token-secret names Secret {token_secret!r}, which has no key "
            f"{DAPR_INJECTOR_TOKEN_KEY!r}"
        )

    resources = folder / RESOURCES_FOLDER
    resources.mkdir(parents=True)
    secrets: dict[str, dict[str, str]] = {}
    for component in components:
        for secret, values in _resolve_refs(component, stack_secrets, servers).items():
            secrets.setdefault(secret, {}).update(values)
        name = component["metadata"]["name"]
        _write_yaml(resources / f"{name}.yaml", _pointed_at(component, servers, consumer_group))
    secrets_file = folder / SECRETS_FILE
    secrets_file.write_text(json.dumps(secrets), encoding="utf-8")
    _write_yaml(resources / f"{SECRET_STORE}.yaml", _secret_store(secrets_file, [app_id]))

    config_path = folder / CONFIG_FILE
    _write_yaml(
        config_path,
        {
            "apiVersion": DAPR_API,
            "kind": "Configuration",
            "metadata": {"name": config_name},
            "spec": configuration["spec"],
        },
    )
    return SelfHostedApp(
        app_id=app_id,
        app_protocol=annotations["dapr.io/app-protocol"],
        app_token_secret=token_secret,
        config_path=config_path,
        resources_path=resources,
        components=tuple(c["metadata"]["name"] for c in components),
    )
