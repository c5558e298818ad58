"""The contract between the infra and the service: the ``TODO_*`` variables the rendered stacks
give the service's containers are settings the service reads (``app.core.config.Settings``,
prefix ``TODO_``), and their values pass its validation.

A rename on either side fails here: an infra name the service no longer has, or a value the
service would refuse at start, which in a cluster is a pod in CrashLoopBackOff. So does a topic
the service subscribes to through Dapr that the stack does not create, or a pub/sub name the
stack has no Component for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from app.api.routes.events import dapr_subscriptions
from app.core.config import SECRET_FILE_SETTINGS, Settings
from app.db_roles import roles_for
from app.events.cloudevents import EventKind
from stacks.render import Rendered, plain
from tests.infra.manifests import render as render_stack

PREFIX = "TODO_"


Pod = dict[str, Any]


def _app_containers(rendered: Rendered) -> Iterator[tuple[str, Pod, dict[str, Any]]]:
    """Every container that runs the service's command (API, migration, relay), in its pod."""
    for manifest in rendered.manifests():
        if manifest["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        spec = manifest["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if (container.get("command") or [""])[0] == "todo-api":
                yield f"{manifest['metadata']['name']}/{container['name']}", spec, container


def _data(rendered: Rendered, kind: str) -> dict[str, dict[str, str]]:
    """ConfigMap data or Secret stringData by object name, unredacted."""
    field = "data" if kind == "ConfigMap" else "stringData"
    return {
        r.inputs["metadata"]["name"]: plain(r.inputs).get(field, {})
        for r in rendered.registrations
        if r.type == f"kubernetes:core/v1:{kind}"
    }


def _mounted_secret(rendered: Rendered, pod: Pod, container: dict[str, Any], path: str) -> str:
    """The content of the file at ``path`` in the container, from a mounted Secret key."""
    secrets = _data(rendered, "Secret")
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]].get("secret")
        if source is None or not path.startswith(mount["mountPath"] + "/"):
            continue
        relative = path.removeprefix(mount["mountPath"] + "/")
        keys = {item["path"]: item["key"] for item in source["items"]}
        return secrets[source["secretName"]][keys[relative]]
    raise AssertionError(f"{container['name']}: nothing mounted at {path}")


def _environment(
    rendered: Rendered, pod: Pod, container: dict[str, Any], files: Path | None = None
) -> dict[str, str]:
    """What the container's process sees, as the kubelet would assemble it; with ``files``,
    each ``*_FILE`` points at a copy of what the container would find at its path."""
    config_maps, secrets = _data(rendered, "ConfigMap"), _data(rendered, "Secret")
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" not in variable:
            ref = variable["valueFrom"]["secretKeyRef"]
            environment[name] = secrets[ref["name"]][ref["key"]]
        elif files is not None and name.endswith("_FILE"):
            copy = files / name
            copy.write_text(_mounted_secret(rendered, pod, container, variable["value"]))
            environment[name] = str(copy)
        else:
            environment[name] = variable["value"]
    return environment


def _setting_names() -> set[str]:
    """Every variable the service reads as a setting."""
    return {f"{PREFIX}{name}".upper() for name in Settings.model_fields} | {
        f"{PREFIX}{name}_FILE".upper() for name in SECRET_FILE_SETTINGS
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_todo_variable_the_infra_sets_is_a_service_setting(stacks, stack):
    settings = _setting_names()
    containers = {where: (pod, c) for where, pod, c in _app_containers(stacks[stack])}
    assert {"todo-backend/api", "todo-backend/migrate", "todo-relay/relay"} <= containers.keys()
    for where, (pod, container) in containers.items():
        names = {n for n in _environment(stacks[stack], pod, container) if n.startswith(PREFIX)}
        assert names, where
        assert names <= settings, f"{where}: the service has no setting {names - settings}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_service_accepts_what_each_container_is_given(
    stacks, stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    secrets = _data(stacks[stack], "Secret")["todo-credentials"]
    config = stacks[stack].config
    for where, pod, container in _app_containers(stacks[stack]):
        for name in [n for n in os.environ if n.startswith(PREFIX)]:
            monkeypatch.delenv(name)
        files = tmp_path / container["name"]
        files.mkdir(exist_ok=True)
        for name, value in _environment(stacks[stack], pod, container, files).items():
            monkeypatch.setenv(name, value)
        settings = Settings()
        assert settings.database_url == secrets["TODO_DATABASE_URL"], where
        assert settings.relay_in_process is False, where
        # The retention the stack validated against the topics is the one the relay prunes by.
        assert settings.outbox_retention_hours == config.app.outbox_retention_hours, where
        assert (
            settings.processed_event_retention_hours
            == config.app.processed_event_retention_hours
            >= config.topics.readable_hours
        ), where
        if container["name"] == "migrate":
            assert settings.database_admin_url == secrets["TODO_DATABASE_ADMIN_URL"]
            # The role the migration makes is the one the API and the relay log in as.
            roles = roles_for(
                settings.database_admin_url,
                settings.database_url,
                settings.database_migration_role,
            )
            assert roles.app == make_url(secrets["TODO_DATABASE_URL"]).username
            assert roles.app == config.postgres.app_user
            assert roles.migration == config.postgres.migration_role
        else:
            assert settings.database_admin_url is None, f"{where} holds the administrator's URL"
        if container["name"] == "api":
            assert settings.signing_key == secrets["TODO_JWT_SECRET"]
            assert settings.redis_url == secrets["TODO_REDIS_URL"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_api_subscribes_to_the_topics_the_stack_creates_on_its_pubsub(
    stacks, stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The one source of the Dapr subscriptions is the service (``GET /dapr/subscribe``): what
    it lists with the settings its container is given must be the topics the stack's Job
    creates, on the pub/sub Component the stack makes for the API's app id (issue 11, f)."""
    rendered = stacks[stack]
    manifests = rendered.manifests()
    ((_, pod, api),) = [
        found for found in _app_containers(rendered) if found[0] == "todo-backend/api"
    ]
    for name in [n for n in os.environ if n.startswith(PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in _environment(rendered, pod, api, tmp_path).items():
        monkeypatch.setenv(name, value)
    subscriptions = dapr_subscriptions(Settings())

    (job,) = [m for m in manifests if m["kind"] == "Job"]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    created = set(re.findall(r"--create --if-not-exists --topic (\S+) ", script))
    assert {s.topic for s in subscriptions} == created
    assert len(created) == len(EventKind)

    (backend,) = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "todo-backend"
    ]
    app_id = backend["spec"]["template"]["metadata"]["annotations"]["dapr.io/app-id"]
    components = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Component"}
    for subscription in subscriptions:
        pubsub = components[subscription.pubsubname]
        assert pubsub["spec"]["type"].startswith("pubsub."), subscription
        assert app_id in pubsub["scopes"]
    (binding,) = [c for c in components.values() if c["spec"]["type"].startswith("bindings.")]
    publish = {i["name"]: i["value"] for i in binding["spec"]["metadata"] if "value" in i}
    assert publish["publishTopic"] in created


def test_the_service_reads_the_tracing_the_stack_configures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """With ``tracing.enabled`` the containers get TODO_TRACING_ENABLED (a setting the service
    has, which it accepts) beside the SDK's OTEL_* variables."""
    rendered = render_stack("prod", tracing={"enabled": True}, addons={"jaeger": {"enabled": True}})
    settings = _setting_names()
    for where, pod, container in _app_containers(rendered):
        environment = _environment(rendered, pod, container, tmp_path)
        names = {n for n in environment if n.startswith(PREFIX)}
        assert names <= settings, f"{where}: the service has no setting {names - settings}"
        for name in [n for n in os.environ if n.startswith((PREFIX, "OTEL_"))]:
            monkeypatch.delenv(name)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        assert Settings().tracing_enabled is True, where
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://jaeger."), where
