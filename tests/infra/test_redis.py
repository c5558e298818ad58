"""Redis: password auth, an append-only file on a volume, and the exporter sidecar."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from infra.redis import EXPORTER_TARGET, Redis, RedisArgs, RedisSettings, start_script
from infra.stateful import StorageSettings
from tests.infra.manifests import build, containers, named, of_kind, pod_spec


def _objects(settings: RedisSettings | None = None) -> list[dict[str, Any]]:
    args = RedisArgs(
        namespace="todo-test",
        instance="todo",
        settings=settings or RedisSettings(),
        secret_name="todo-credentials",
        service_account_name="todo-redis",
    )
    return build(lambda: Redis("t", args))


def _server(objects: list[dict[str, Any]]) -> dict[str, Any]:
    statefulset = named(objects, "StatefulSet", "todo-redis")
    (server,) = [c for _, c in containers(statefulset) if c["name"] == "redis"]
    return server


def test_requires_a_password_read_from_a_mounted_file() -> None:
    objects = _objects()
    server = _server(objects)
    script = server["command"][-1]
    assert script.startswith(
        '{ printf "requirepass "; cat "$REDIS_PASSWORD_FILE"; printf "\\n"; }'
        " > /run/redis/redis.conf && exec redis-server /run/redis/redis.conf"
    )
    assert "--requirepass" not in script
    assert server["env"] == [
        {"name": "REDIS_PASSWORD_FILE", "value": "/var/run/secrets/todo/REDIS_PASSWORD"}
    ]
    volumes = {
        v["name"]: v for v in pod_spec(named(objects, "StatefulSet", "todo-redis"))["volumes"]
    }
    assert volumes["credentials-redis"]["secret"]["items"] == [
        {"key": "REDIS_PASSWORD", "path": "REDIS_PASSWORD"}
    ]
    assert {
        "name": "credentials-redis",
        "mountPath": "/var/run/secrets/todo",
        "readOnly": True,
    } in server["volumeMounts"]


def test_the_exporter_reads_its_password_map_from_a_file() -> None:
    objects = _objects()
    statefulset = named(objects, "StatefulSet", "todo-redis")
    (exporter,) = [c for _, c in containers(statefulset) if c["name"] == "metrics"]
    assert exporter["env"] == [
        {"name": "REDIS_ADDR", "value": EXPORTER_TARGET},
        {
            "name": "REDIS_PASSWORD_FILE",
            "value": "/var/run/secrets/todo/REDIS_EXPORTER_PASSWORDS",
        },
    ]
    volumes = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}
    assert volumes["credentials-redis-exporter"]["secret"]["items"] == [
        {"key": "REDIS_EXPORTER_PASSWORDS", "path": "REDIS_EXPORTER_PASSWORDS"}
    ]
    # The server's password file is not the exporter's.
    assert [m["name"] for m in exporter["volumeMounts"]] == ["credentials-redis-exporter"]


def test_no_container_holds_a_secret_in_its_environment() -> None:
    for _, container in containers(named(_objects(), "StatefulSet", "todo-redis")):
        assert not [v for v in container["env"] if "valueFrom" in v], container["name"]


def test_the_start_script_writes_the_password_into_the_config_only(tmp_path: Path) -> None:
    """The script's first step, run by a real shell with the file the Secret mounts."""
    password = tmp_path / "REDIS_PASSWORD"
    password.write_text("s3cret-with/slash+plus=")
    conf = tmp_path / "redis.conf"
    first_step = (
        start_script("micro").split(" && ", 1)[0].replace("/run/redis/redis.conf", str(conf))
    )
    subprocess.run(
        ["sh", "-c", first_step],
        env={"REDIS_PASSWORD_FILE": str(password), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert conf.read_text() == "requirepass s3cret-with/slash+plus=\n"


def test_persists_an_append_only_file_on_a_volume() -> None:
    objects = _objects(RedisSettings(storage=StorageSettings(size_gi=10)))
    server = _server(objects)
    assert "--appendonly yes --dir /data" in server["command"][-1]
    assert {"name": "data", "mountPath": "/data"} in server["volumeMounts"]
    (claim,) = named(objects, "StatefulSet", "todo-redis")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_evicts_only_keys_with_a_ttl_before_the_memory_limit() -> None:
    # Redis also holds Dapr's state store, whose entries carry no TTL: allkeys-lru would evict
    # saved state silently (issue 11, d). Cache entries and throttle counters carry one.
    server = _server(_objects(RedisSettings(size="small")))
    assert "--maxmemory 288mb --maxmemory-policy volatile-lru" in server["command"][-1]
    assert "allkeys" not in server["command"][-1]
    assert server["resources"]["limits"]["memory"] == "384Mi"


def test_runs_redis_7_and_the_exporter() -> None:
    statefulset = named(_objects(), "StatefulSet", "todo-redis")
    images = {c["name"]: c["image"] for _, c in containers(statefulset)}
    assert images["redis"].startswith("redis:7.")
    assert "redis_exporter" in images["metrics"]


def test_probes_ping_with_the_password() -> None:
    server = _server(_objects())
    for probe in ("livenessProbe", "readinessProbe"):
        command = " ".join(server[probe]["exec"]["command"])
        assert 'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli' in command
        assert "PONG" in command


def test_services_and_no_budget_for_one_instance() -> None:
    objects = _objects()
    assert named(objects, "Service", "todo-redis-headless")["spec"]["clusterIP"] == "None"
    ports = {p["port"] for p in named(objects, "Service", "todo-redis")["spec"]["ports"]}
    assert ports == {6379, 9121}
    assert of_kind(objects, "PodDisruptionBudget") == []
