"""Redis 7: the service's cache and Dapr's state store, with a password, an append-only file on
a volume and metrics.

The service treats Redis as a cache (it answers from PostgreSQL when Redis is away), so one
instance is enough in every profile: there is no replica count and no PodDisruptionBudget.
Persistence still matters: a restarted cache that comes back warm spares the database a burst,
and Dapr's state store (``statestore``) keeps what was saved in it.

When memory runs out Redis evicts only keys that carry a TTL (``volatile-lru``): the service's
cache entries (``SET ... EX``) and login-throttle counters (``EXPIRE``), which it can rebuild.
State saved through Dapr without ``ttlInSeconds`` carries none, and neither do the cache's
per-user version counters (evicting one would make entries cached under an older version
readable again), so neither is ever evicted: with only such keys left, Redis refuses writes
(the cache's breaker then sends reads to PostgreSQL; a state save fails loudly) instead of
dropping data. ``allkeys-lru`` would evict them silently; ``noeviction`` would make a full cache
refuse writes instead of trimming itself.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field

from infra.component import child_options
from infra.labels import PinnedImage
from infra.probes import exec_probes
from infra.secrets import REDIS_EXPORTER_PASSWORDS_KEY, REDIS_PASSWORD_KEY, credential_files
from infra.security import scratch_volume
from infra.sizes import Size, resolve
from infra.stateful import (
    DataServiceArgs,
    DataServiceSettings,
    SingleInstance,
    StatefulNames,
    StorageSettings,
    metrics_sidecar,
)
from infra.workload import container, pod_spec

REDIS_PORT = 6379
EXPORTER_PORT = 9121
REDIS_UID = 999
"""The ``redis`` user of the official image."""
EXPORTER_UID = 59000
"""The user redis_exporter's image runs as."""

MEMORY_SHARE = 0.75
"""Share of the container's memory limit Redis may fill before it evicts (or refuses writes);
the rest covers copy-on-write during AOF rewrites and the allocator's overhead, so the container
is never OOM-killed."""
EVICTION_POLICY = "volatile-lru"
"""Evict only keys with a TTL, least recently used first (see the module docstring)."""


EXPORTER_TARGET = f"redis://127.0.0.1:{REDIS_PORT}"
"""The address the exporter scrapes, and the key of its password in the password file."""
PASSWORD_FILE_VARIABLE = f"{REDIS_PASSWORD_KEY}_FILE"


def start_script(size: Size) -> str:
    """The server's start command.

    The password comes from the mounted Secret file and goes into a config file on a
    memory-backed emptyDir: never onto a command line (``cat`` gets the file's name, not its
    content), where every process in the pod could read it from /proc, nor into the
    environment.
    """
    max_memory_mi = int(resolve(size).memory_limit_mi * MEMORY_SHARE)
    return (
        f'{{ printf "requirepass "; cat "${PASSWORD_FILE_VARIABLE}"; printf "\\n"; }}'
        " > /run/redis/redis.conf"
        " && exec redis-server /run/redis/redis.conf --appendonly yes --dir /data"
        f" --maxmemory {max_memory_mi}mb --maxmemory-policy {EVICTION_POLICY}"
    )


_PING = [
    "sh",
    "-c",
    f'REDISCLI_AUTH="$(cat "${PASSWORD_FILE_VARIABLE}")" redis-cli -h 127.0.0.1 ping'
    " | grep -q PONG",
]


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
    """The cache and state server; ``host``/``port`` are what the service's Redis URL and the
    state store Component point at."""

    def __init__(
        self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Redis", name, None, opts)
        child = child_options(self, opts)
        settings = args.settings
        names = redis_names(args.instance, settings.image)
        # Files, not variables: the server's start script reads REDIS_PASSWORD_FILE; the
        # exporter's REDIS_PASSWORD_FILE is its own format, a JSON map of address to password.
        password = credential_files("redis", args.secret_name, (REDIS_PASSWORD_KEY,))
        exporter_passwords = credential_files(
            "redis-exporter", args.secret_name, (REDIS_EXPORTER_PASSWORDS_KEY,)
        )
        (exporter_passwords_file,) = (variable.value for variable in exporter_passwords.env)
        server = container(
            "redis",
            image=settings.image,
            size=settings.size,
            uid=REDIS_UID,
            command=["sh", "-c", start_script(settings.size)],
            ports=[core.ContainerPortArgs(name="redis", container_port=REDIS_PORT)],
            env=password.env,
            volume_mounts=[
                core.VolumeMountArgs(name="data", mount_path="/data"),
                core.VolumeMountArgs(name="run", mount_path="/run/redis"),
                password.mount,
            ],
            probes=exec_probes(liveness=_PING, readiness=_PING, startup_seconds=60),
        )
        exporter = metrics_sidecar(
            settings,
            uid=EXPORTER_UID,
            port=EXPORTER_PORT,
            env=[
                core.EnvVarArgs(name="REDIS_ADDR", value=EXPORTER_TARGET),
                core.EnvVarArgs(name=PASSWORD_FILE_VARIABLE, value=exporter_passwords_file),
            ],
            volume_mounts=[exporter_passwords.mount],
            health_path="/health",
        )
        spec = pod_spec(
            containers=[server, exporter],
            service_account_name=args.service_account_name,
            volumes=[
                scratch_volume("run", size_limit="1Mi", memory=True),
                password.volume,
                exporter_passwords.volume,
            ],
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
