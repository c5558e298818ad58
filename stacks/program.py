"""The Pulumi program: read the stack's settings once, validate them, build the platform.

``stacks/__main__.py`` (what ``pulumi up`` runs) and the offline render both call
:func:`run`, so what is rendered is exactly what would be deployed.
"""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from infra.cluster import existing_cluster_provider, provision_cluster
from infra.platform import TodoPlatform
from stacks.config import PROJECT, StackConfig, stack_config

PLATFORM_NAME = "todo"


def pulumi_settings() -> tuple[dict[str, object], set[str]]:
    """Every ``todo-evolution:*`` setting of the running stack, and which of them are secret.

    The whole bag is read at once (not key by key through ``pulumi.Config``) so that a key the
    program does not know is reported instead of silently ignored.
    """
    prefix = f"{PROJECT}:"
    bag = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    settings = {
        key.removeprefix(prefix): value for key, value in bag.items() if key.startswith(prefix)
    }
    secret = set(runtime_config.get_config_secret_keys_env())
    secret_keys = {
        key
        for key in settings
        if f"{prefix}{key}" in secret or runtime_config.is_config_secret(f"{prefix}{key}")
    }
    return settings, secret_keys


def stack_outputs(platform: TodoPlatform) -> dict[str, object]:
    """What ``pulumi stack output`` shows: where things are."""
    return {
        "url": platform.url,
        "namespace": platform.namespace,
        "endpoints": platform.endpoints,
        "kafkaBootstrap": platform.kafka_bootstrap,
    }


def run(opts: pulumi.ResourceOptions | None = None) -> tuple[StackConfig, TodoPlatform]:
    """Validate the stack's settings, then build the platform and export its outputs.

    A bad setting raises ``StackConfigError`` before the first resource is registered.
    """
    settings, secret_keys = pulumi_settings()
    config = stack_config(settings, secret_keys)
    # Every Kubernetes object goes through the provider of the cluster the settings name.
    cluster = provision_cluster(
        f"{PLATFORM_NAME}-cluster", config.cluster, backup=config.backup_account()
    )
    if cluster is not None:
        pulumi.export("kubeconfig", cluster.kubeconfig)
        if cluster.registry_url is not None:
            pulumi.export("registry", cluster.registry_url)
    provider = (
        cluster.provider
        if cluster
        else existing_cluster_provider(f"{PLATFORM_NAME}-k8s", config.cluster)
    )
    if provider is not None:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider]))
    platform = TodoPlatform(
        PLATFORM_NAME, config, opts=opts, backup_store=cluster.backup_store if cluster else None
    )
    for key, value in stack_outputs(platform).items():
        pulumi.export(key, value)
    return config, platform
