"""The ConfigMap of non-secret application settings, read by the service with ``envFrom``.

Names follow the service's settings (prefix ``TODO_``). The database and Redis URLs embed
passwords, so they live in the credentials Secret (:mod:`infra.secrets`), not here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Literal

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field, field_validator

from infra.component import ComponentArgs, SettingsModel, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

LogLevel = Literal["debug", "info", "warning", "error"]
_FEATURE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def config_map_name(instance: str) -> str:
    """The name of the settings ConfigMap of a platform instance."""
    return child_name(instance, "settings")


class AppSettings(SettingsModel):
    """Settings of the service that a stack file may set."""

    log_level: LogLevel = Field(
        default="info", description="TODO_LOG_LEVEL; the profiles use debug/info/warning."
    )
    features: dict[str, bool] = Field(
        default_factory=dict,
        description="Feature flags, each exported as TODO_FEATURE_<NAME>=true|false.",
    )

    outbox_retention_hours: int = Field(
        default=168,
        ge=1,
        le=87_600,
        description="TODO_OUTBOX_RETENTION_HOURS: the relay deletes published outbox rows older "
        "than this (unpublished rows never).",
    )
    processed_event_retention_hours: int = Field(
        default=336,
        ge=1,
        le=87_600,
        description="TODO_PROCESSED_EVENT_RETENTION_HOURS: the relay deletes applied event ids "
        "older than this. Must cover how long the topics keep an event readable "
        "(`topics.retentionHours` + its segment span, at most 24, + 1), or a replay counts "
        "events twice.",
    )

    forwarded_allow_ips: str | None = Field(
        default=None,
        description="TODO_FORWARDED_ALLOW_IPS: peers whose X-Forwarded-For names the client "
        "(comma-separated IP addresses and CIDR networks, or `*`). Unset: with "
        "`networkPolicies.enabled` the networks the Ingress traffic comes from (class `nginx`: "
        "the private ranges every pod network lies in; `gce`: Google's load-balancer ranges; "
        "plus `networkPolicies.ingressSourceCidrs`), else `127.0.0.1` (only the pod itself). "
        "Narrow it to the cluster's pod network where you know it.",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_peers(cls, value: str | None) -> str | None:
        if value is None or value == "*":
            return value
        for entry in value.split(","):
            try:
                # Strict, as uvicorn parses it: it would treat `10.0.0.1/8` as a name that
                # never matches, silently trusting nobody.
                ipaddress.ip_network(entry.strip())
            except ValueError:
                raise ValueError(
                    f"forwardedAllowIps entry {entry.strip()!r} is not an IP address or a CIDR "
                    f"network (got {value!r}); use `*` or a comma-separated list"
                ) from None
        return value

    @field_validator("features")
    @classmethod
    def _feature_names(cls, value: dict[str, bool]) -> dict[str, bool]:
        for name in value:
            if not _FEATURE.match(name):
                raise ValueError(
                    f"feature name {name!r} must be lower-case letters, digits and '_', "
                    "starting with a letter (at most 41 characters)"
                )
        return value


class AppConfigArgs(ComponentArgs):
    settings: AppSettings
    kafka_bootstrap: str
    database_migration_role: str = Field(
        description="The role, without login, that owns the schema: `todo-api migrate` makes "
        "it and migrates as it (TODO_DATABASE_MIGRATION_ROLE)."
    )
    ingress_networks: tuple[str, ...] = Field(
        default=(),
        description="Where the Ingress traffic comes from, when NetworkPolicies let only it "
        "(and Prometheus) reach the API port; empty when nothing guards the port.",
    )
    tracing_environment: dict[str, str] = Field(
        default_factory=dict,
        description="TODO_TRACING_ENABLED and the OTEL_* variables of the stack's collector "
        "(infra.tracing); empty when tracing is off.",
    )


def forwarded_allow_ips(settings: AppSettings, *, ingress_networks: tuple[str, ...]) -> str:
    """Whose X-Forwarded-For uvicorn believes: the stack's choice, else the ingress's networks.

    Behind the ingress every request comes from the controller, so trusting nobody would key
    the per-IP login limit on the controller and let one client lock every user out. Trusting
    ``*`` is worse than it looks: uvicorn then takes the header's first entry, which the client
    writes whenever a proxy appends to the header instead of replacing it (ingress-nginx with
    ``compute-full-forwarded-for``, Google's and Azure's load balancers). Given networks, it
    walks the header from the right and takes the first address outside them: the one the
    ingress itself saw. Those networks are the ingress's sources
    (:func:`infra.network_policies.ingress_networks`); they mean "the ingress" only while the
    NetworkPolicies keep every other pod off the API port. Without the policies any pod could
    claim any address, so the pod trusts only itself (its Dapr sidecar, ``kubectl
    port-forward``).
    """
    if settings.forwarded_allow_ips is not None:
        return settings.forwarded_allow_ips
    return ",".join(ingress_networks) or "127.0.0.1"


def app_environment(
    settings: AppSettings,
    kafka_bootstrap: str,
    *,
    ingress_networks: tuple[str, ...],
    database_migration_role: str,
    tracing_environment: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ConfigMap's data: what the service reads from its environment."""
    data = {
        "TODO_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TODO_DATABASE_MIGRATION_ROLE": database_migration_role,
        "TODO_LOG_LEVEL": settings.log_level,
        # In the cluster the relay is its own Deployment, so the API must not run one too.
        "TODO_RELAY_IN_PROCESS": "false",
        # The migrate init container changes the schema; the app role the API and the relay
        # connect as may not, so they refuse a schema that is behind instead of trying.
        "TODO_MIGRATE_ON_START": "false",
        "TODO_OUTBOX_RETENTION_HOURS": str(settings.outbox_retention_hours),
        "TODO_PROCESSED_EVENT_RETENTION_HOURS": str(settings.processed_event_retention_hours),
        "TODO_FORWARDED_ALLOW_IPS": forwarded_allow_ips(
            settings, ingress_networks=ingress_networks
        ),
    }
    for name, enabled in sorted(settings.features.items()):
        data[f"TODO_FEATURE_{name.upper()}"] = "true" if enabled else "false"
    data.update(tracing_environment or {})
    return data


class AppConfig(pulumi.ComponentResource):
    """The settings ConfigMap."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: AppConfigArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:AppConfig", name, None, opts)
        config_map = core.ConfigMap(
            f"{name}-configmap",
            metadata=object_meta(
                config_map_name(args.instance),
                namespace=args.namespace,
                labels=unversioned_labels("todo", args.instance, "settings"),
            ),
            data=app_environment(
                args.settings,
                args.kafka_bootstrap,
                ingress_networks=args.ingress_networks,
                database_migration_role=args.database_migration_role,
                tracing_environment=args.tracing_environment,
            ),
            opts=child_options(self, opts),
        )
        self.name = config_map.metadata.name
        self.register_outputs({"name": self.name})
