"""Redis: password auth, an append-only file on a volume, and the exporter sidecar."""

from __future__ import annotations

from typing import Any

from infra.redis import Redis, RedisArgs, RedisSettings
from infra.stateful import StorageSettings
from tests.infra.manifests import build, containers, named, of_kind


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


def test_requires_a_password_without_putting_it_on_the_command_line() -> None:
    server = _server(_objects())
    script = server["command"][-1]
    assert "requirepass" in script
    assert '"$REDIS_PASSWORD" > /run/redis/redis.conf' in script
    assert "--requirepass" not in script
    (password,) = server["env"]
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": "todo-credentials",
        "key": "REDIS_PASSWORD",
    }


def test_persists_an_append_only_file_on_a_volume() -> None:
    objects = _objects(RedisSettings(storage=StorageSettings(size_gi=10)))
    server = _server(objects)
    assert "--appendonly yes --dir /data" in server["command"][-1]
    assert {"name": "data", "mountPath": "/data"} in server["volumeMounts"]
    (claim,) = named(objects, "StatefulSet", "todo-redis")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_evicts_before_the_memory_limit() -> None:
    server = _server(_objects(RedisSettings(size="small")))
    assert "--maxmemory 288mb --maxmemory-policy allkeys-lru" in server["command"][-1]
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
        assert 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli' in command
        assert "PONG" in command


def test_services_and_no_budget_for_one_instance() -> None:
    objects = _objects()
    assert named(objects, "Service", "todo-redis-headless")["spec"]["clusterIP"] == "None"
    ports = {p["port"] for p in named(objects, "Service", "todo-redis")["spec"]["ports"]}
    assert ports == {6379, 9121}
    assert of_kind(objects, "PodDisruptionBudget") == []
