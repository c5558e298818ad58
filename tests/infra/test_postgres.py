"""PostgreSQL: a StatefulSet with its volume, exporter sidecar, probes and two Services."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.postgres import Postgres, PostgresArgs, PostgresSettings
from infra.stateful import StorageSettings
from tests.infra.manifests import build, containers, named, of_kind, pod_spec


def _objects(settings: PostgresSettings | None = None) -> list[dict[str, Any]]:
    args = PostgresArgs(
        namespace="todo-test",
        instance="todo",
        settings=settings or PostgresSettings(),
        secret_name="todo-credentials",
        service_account_name="todo-postgres",
    )
    return build(lambda: Postgres("t", args))


def test_one_primary_with_a_volume_of_the_requested_size() -> None:
    settings = PostgresSettings(storage=StorageSettings(size_gi=50, storage_class="fast"))
    statefulset = named(_objects(settings), "StatefulSet", "todo-postgres")
    assert statefulset["spec"]["replicas"] == 1
    assert statefulset["spec"]["serviceName"] == "todo-postgres-headless"
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    retention = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert retention == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_runs_postgres_16_and_the_exporter_sidecar() -> None:
    statefulset = named(_objects(), "StatefulSet", "todo-postgres")
    images = {c["name"]: c["image"] for _, c in containers(statefulset)}
    assert images["postgres"].startswith("postgres:16.")
    assert "postgres-exporter" in images["metrics"]
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9187"


def test_passwords_are_mounted_files_never_variables_each_container_its_own() -> None:
    """The server reads the administrator's password; the exporter logs in as the monitoring
    role (pg_monitor) and holds only that role's password."""
    statefulset = named(_objects(), "StatefulSet", "todo-postgres")
    spec = pod_spec(statefulset)
    volumes = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    expected = {
        "postgres": ("credentials-postgres", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE"),
        "metrics": ("credentials-exporter", "POSTGRES_MONITOR_PASSWORD", "DATA_SOURCE_PASS_FILE"),
    }
    for _, container in containers(statefulset):
        volume, key, variable = expected[container["name"]]
        assert volumes[volume] == {
            "secretName": "todo-credentials",
            "defaultMode": 0o440,
            "items": [{"key": key, "path": key}],
        }
        env = {v["name"]: v for v in container["env"]}
        assert env[variable] == {"name": variable, "value": f"/var/run/secrets/todo/{key}"}
        assert not [v for v in container["env"] if "valueFrom" in v], container["name"]
        assert "POSTGRES_PASSWORD" not in env
        assert "DATA_SOURCE_PASS" not in env
        mounts = [m for m in container["volumeMounts"] if m["name"].startswith("credentials-")]
        assert mounts == [
            {"name": volume, "mountPath": "/var/run/secrets/todo", "readOnly": True}
        ], container["name"]
        if container["name"] == "metrics":
            assert env["DATA_SOURCE_USER"]["value"] == "todo_monitor"


def test_both_containers_can_read_the_password_file() -> None:
    """0440 with the pod's fsGroup as the group: every container runs with that group."""
    spec = pod_spec(named(_objects(), "StatefulSet", "todo-postgres"))
    assert spec["securityContext"]["fsGroup"] == 70


def test_writable_paths_are_volumes_under_a_read_only_root() -> None:
    statefulset = named(_objects(), "StatefulSet", "todo-postgres")
    (database,) = [c for _, c in containers(statefulset) if c["name"] == "postgres"]
    mounts = {m["mountPath"] for m in database["volumeMounts"] if not m.get("readOnly")}
    assert mounts == {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"}
    assert database["securityContext"]["readOnlyRootFilesystem"] is True
    assert database["securityContext"]["runAsUser"] == 70


def test_probes_ask_the_server_itself() -> None:
    statefulset = named(_objects(), "StatefulSet", "todo-postgres")
    (database,) = [c for _, c in containers(statefulset) if c["name"] == "postgres"]
    assert database["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert database["livenessProbe"]["exec"]["command"][0] == "pg_isready"
    assert (
        database["startupProbe"]["failureThreshold"] * database["startupProbe"]["periodSeconds"]
        >= 180
    )


def test_headless_and_client_services() -> None:
    objects = _objects()
    headless = named(objects, "Service", "todo-postgres-headless")
    assert headless["spec"]["clusterIP"] == "None"
    client = named(objects, "Service", "todo-postgres")
    assert {p["port"] for p in client["spec"]["ports"]} == {5432, 9187}
    statefulset = named(objects, "StatefulSet", "todo-postgres")
    assert client["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]


def test_no_disruption_budget_for_the_single_primary() -> None:
    assert of_kind(_objects(), "PodDisruptionBudget") == []


def test_pod_runs_as_its_own_account_without_a_token() -> None:
    spec = pod_spec(named(_objects(), "StatefulSet", "todo-postgres"))
    assert spec["serviceAccountName"] == "todo-postgres"
    assert spec["automountServiceAccountToken"] is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image", "postgres:latest", "'latest'"),
        ("database", "Todo-DB", "lower-case identifier"),
        ("user", "1user", "lower-case identifier"),
    ],
)
def test_settings_are_checked(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PostgresSettings.model_validate({field: value})
