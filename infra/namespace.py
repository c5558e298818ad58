"""The namespace every object of the platform lives in."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.meta.v1 as meta

from infra.component import ComponentArgs, child_options
from infra.labels import MANAGED_BY, PART_OF

POD_SECURITY_LEVEL = "restricted"
"""The Pod Security Standard the namespace enforces: every pod of the stack, injected sidecars
included, must meet it."""


class NamespaceArgs(ComponentArgs):
    """The namespace's name is ``namespace``; ``instance`` is recorded in its labels."""


class Namespace(pulumi.ComponentResource):
    """A namespace that enforces the ``restricted`` Pod Security Standard.

    The admission controller then rejects any pod that a future change forgets to harden, a
    second line behind :mod:`infra.security`.
    """

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Namespace", name, None, opts)
        namespace = core.Namespace(
            f"{name}-namespace",
            metadata=meta.ObjectMetaArgs(
                name=args.namespace,
                labels={
                    "app.kubernetes.io/instance": args.instance,
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                    "pod-security.kubernetes.io/enforce": POD_SECURITY_LEVEL,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
            opts=child_options(self, opts),
        )
        self.name = namespace.metadata.name
        self.register_outputs({"name": self.name})
