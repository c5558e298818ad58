"""What every component shares: its settings base model, its wiring args and its child options.

Each component module defines two models. ``<Kind>Settings`` holds the knobs a stack file may
set (camelCase keys in ``Pulumi.<stack>.yaml``, snake_case in Python); ``StackConfig`` embeds it
as is. ``<Kind>Args`` adds the wiring the platform decides (namespace, instance, names of the
objects it uses) and is what the component takes.
"""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from infra.naming import require_dns_label


class SettingsModel(BaseModel):
    """Frozen, strict about unknown keys, camelCase in stack files."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class ComponentArgs(BaseModel):
    """Where a component's objects go and which platform instance they belong to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str
    instance: str

    @field_validator("namespace", "instance")
    @classmethod
    def _dns_label(cls, value: str, info: ValidationInfo) -> str:
        return require_dns_label(value, field=info.field_name or "name")


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None
) -> pulumi.ResourceOptions:
    """Options for a component's children: parented to it, and waiting for what it waits for.

    Pulumi passes a parent's provider down to its children, but not its ``depends_on``; without
    this a Deployment could be sent before the Namespace it lives in exists.
    """
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None)
