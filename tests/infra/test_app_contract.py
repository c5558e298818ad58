"""The contract between the infra and the service: the ``TODO_*`` variables the rendered stacks
give the service's containers are settings the service reads (``app.core.config.Settings``,
prefix ``TODO_``), and their values pass its validation.

A rename on either side fails here: an infra name the service no longer has, or a value the
service would refuse at start, which in a cluster is a pod in CrashLoopBackOff.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from app.core.config import Settings
from stacks.render import Rendered, plain

PREFIX = "TODO_"


def _app_containers(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container that runs the service's command (API, migration, relay)."""
    for manifest in rendered.manifests():
        if manifest["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        spec = manifest["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if (container.get("command") or [""])[0] == "todo-api":
                yield f"{manifest['metadata']['name']}/{container['name']}", container


def _data(rendered: Rendered, kind: str) -> dict[str, dict[str, str]]:
    """ConfigMap data or Secret stringData by object name, unredacted."""
    field = "data" if kind == "ConfigMap" else "stringData"
    return {
        r.inputs["metadata"]["name"]: plain(r.inputs).get(field, {})
        for r in rendered.registrations
        if r.type == f"kubernetes:core/v1:{kind}"
    }


def _environment(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    """What the container's process sees, as the kubelet would assemble it."""
    config_maps, secrets = _data(rendered, "ConfigMap"), _data(rendered, "Secret")
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            environment[variable["name"]] = secrets[ref["name"]][ref["key"]]
    return environment


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_todo_variable_the_infra_sets_is_a_service_setting(stacks, stack):
    settings = {f"{PREFIX}{name}".upper() for name in Settings.model_fields}
    containers = dict(_app_containers(stacks[stack]))
    assert {"todo-backend/api", "todo-backend/migrate", "todo-relay/relay"} <= containers.keys()
    for where, container in containers.items():
        names = {n for n in _environment(stacks[stack], container) if n.startswith(PREFIX)}
        assert names, where
        assert names <= settings, f"{where}: the service has no setting {names - settings}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_service_accepts_what_each_container_is_given(
    stacks, stack, monkeypatch: pytest.MonkeyPatch
):
    for where, container in _app_containers(stacks[stack]):
        for name in [n for n in os.environ if n.startswith(PREFIX)]:
            monkeypatch.delenv(name)
        environment = _environment(stacks[stack], container)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        assert settings.database_url == environment["TODO_DATABASE_URL"], where
        assert settings.relay_in_process is False, where
        if container["name"] == "api":
            assert settings.signing_key == environment["TODO_JWT_SECRET"]
            assert settings.forwarded_allow_ips == environment["TODO_FORWARDED_ALLOW_IPS"]
