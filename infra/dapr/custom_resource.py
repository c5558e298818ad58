"""A Dapr custom resource whose top-level fields are all sent, not only ``spec``.

Dapr Components carry ``scopes`` and ``auth`` next to ``spec``, but pulumi-kubernetes' Python
``apiextensions.CustomResource`` sends only ``apiVersion``, ``kind``, ``metadata`` and ``spec``
(pulumi-kubernetes issue 2363), so ``scopes`` would be lost and every app in the namespace
would load every component.

The Kubernetes provider itself takes any object for a ``kubernetes:<group/version>:<Kind>``
resource; only the generated Python class narrows it. So this class registers the same
resource type with all the fields, typed, and pins the provider version the SDK would pin.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pulumi
import pulumi_kubernetes.meta.v1 as meta

_PROVIDER_VERSION = version("pulumi-kubernetes")


class DaprResource(pulumi.CustomResource):
    """One Dapr object (Component, Configuration) with its top-level fields."""

    def __init__(
        self,
        resource_name: str,
        *,
        api_version: str,
        kind: str,
        metadata: meta.ObjectMetaArgs,
        spec: dict[str, Any],
        scopes: list[str] | None = None,
        auth: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": metadata,
            "spec": spec,
        }
        if scopes is not None:
            props["scopes"] = scopes
        if auth is not None:
            props["auth"] = auth
        super().__init__(
            f"kubernetes:{api_version}:{kind}",
            resource_name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_PROVIDER_VERSION)),
        )
