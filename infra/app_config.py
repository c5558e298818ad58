"""The ConfigMap of non-secret application settings, read by the service with ``envFrom``.

Names follow the service's settings (prefix ``TODO_``). The database and Redis URLs embed
passwords, so they live in the credentials Secret (:mod:`infra.secrets`), not here.
"""

from __future__ import annotations

import re
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


def app_environment(settings: AppSettings, kafka_bootstrap: str) -> dict[str, str]:
    """The ConfigMap's data: what the service reads from its environment."""
    data = {
        "TODO_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TODO_LOG_LEVEL": settings.log_level,
        # In the cluster the relay is its own Deployment, so the API must not run one too.
        "TODO_RELAY_IN_PROCESS": "false",
    }
    for name, enabled in sorted(settings.features.items()):
        data[f"TODO_FEATURE_{name.upper()}"] = "true" if enabled else "false"
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
            data=app_environment(args.settings, args.kafka_bootstrap),
            opts=child_options(self, opts),
        )
        self.name = config_map.metadata.name
        self.register_outputs({"name": self.name})
