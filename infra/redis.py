"""Redis 7: the service's cache, with a password, an append-only file on a volume and metrics.

The service treats Redis as a cache (it answers from PostgreSQL when Redis is away), so one
instance is enough in every profile: there is no replica count and no PodDisruptionBudget.
Persistence still matters: a restarted cache that comes back warm spares the database a burst.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field

from infra.component import child_options
from infra.labels import PinnedImage
from infra.probes import exec_probes
from infra.secrets import REDIS_PASSWORD_KEY
from infra.security import scratch_volume
from infra.sizes import Size, resolve
from infra.stateful import (
    DataServiceArgs,
    DataServiceSettings,
    SingleInstance,
    StatefulNames,
    StorageSettings,
    metrics_sidecar,
    secret_env,
)
from infra.workload import container, pod_spec

REDIS_PORT = 6379
EXPORTER_PORT = 9121
REDIS_UID = 999
"""The ``redis`` user of the official image."""
EXPORTER_UID = 59000
"""The user redis_exporter's image runs as."""

MEMORY_SHARE = 0.75
"""Share of the container's memory limit Redis may fill before it evicts; the rest covers
copy-on-write during AOF rewrites and the allocator's overhead, so Redis evicts, never OOMs."""


def start_script(size: Size) -> str:
    """The server's start command.

    The password goes into a config file on a memory-backed emptyDir rather than onto the
    command line, where every process in the pod could read it from /proc.
    """
    max_memory_mi = int(resolve(size).memory_limit_mi * MEMORY_SHARE)
    return (
        'printf "requirepass %s\\n" "$REDIS_PASSWORD" > /run/redis/redis.conf'
        " && exec redis-server /run/redis/redis.conf --appendonly yes --dir /data"
        f" --maxmemory {max_memory_mi}mb --maxmemory-policy allkeys-lru"
    )


_PING = ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 ping | grep -q PONG']


class RedisSettings(DataServiceSettings):
    """What a stack may set about Redis."""

    image: PinnedImage = Field(default="redis:7.4.2-alpine", description="Redis 7 image, pinned.")
    exporter_image: PinnedImage = Field(
        default="oliver006/redis_exporter:v1.67.0",
        description="Prometheus redis_exporter sidecar image, pinned.",
    )
    size: Size = Field(default="micro", description="Resources of the Redis container.")
    storage: StorageSettings = Field(
        default_factory=StorageSettings, description="Append-only-file volume (prod: 10Gi)."
    )


class RedisArgs(DataServiceArgs):
    settings: RedisSettings


def redis_names(instance: str, image: str) -> StatefulNames:
    return StatefulNames(instance=instance, app="redis", component="redis", image=image)


class Redis(SingleInstance):
    """The cache server; ``host``/``port`` are what the service's Redis URL points at."""

    def __init__(
        self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Redis", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        names = redis_names(args.instance, settings.image)
        password = secret_env(
            "REDIS_PASSWORD", secret_name=args.secret_name, key=REDIS_PASSWORD_KEY
        )
        server = container(
            "redis",
            image=settings.image,
            size=settings.size,
            uid=REDIS_UID,
            command=["sh", "-c", start_script(settings.size)],
            ports=[core.ContainerPortArgs(name="redis", container_port=REDIS_PORT)],
            env=[password],
            volume_mounts=[
                core.VolumeMountArgs(name="data", mount_path="/data"),
                core.VolumeMountArgs(name="run", mount_path="/run/redis"),
            ],
            probes=exec_probes(liveness=_PING, readiness=_PING, startup_seconds=60),
        )
        exporter = metrics_sidecar(
            settings,
            uid=EXPORTER_UID,
            port=EXPORTER_PORT,
            env=[
                core.EnvVarArgs(name="REDIS_ADDR", value=f"redis://127.0.0.1:{REDIS_PORT}"),
                password,
            ],
            health_path="/health",
        )
        spec = pod_spec(
            containers=[server, exporter],
            service_account_name=args.service_account_name,
            volumes=[scratch_volume("run", size_limit="1Mi", memory=True)],
            uid=REDIS_UID,
        )
        self._single_instance(
            name,
            names=names,
            namespace=args.namespace,
            spec=spec,
            storage=settings.storage,
            port_name="redis",
            port=REDIS_PORT,
            metrics_port=EXPORTER_PORT,
            opts=child,
        )
