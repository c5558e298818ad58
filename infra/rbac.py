"""One ServiceAccount per workload, and no API permission for any of them.

On the cloud stacks the backup CronJob's account also carries its cloud's workload identity
annotation, which maps it to the one cloud identity allowed to use the backup bucket.

No workload of the platform manages Kubernetes objects or reads them, so no account can list,
watch, read or write anything, and token automount is off on every account. That holds for
the Dapr sidecars too: Dapr's operator resolves the Components' ``secretKeyRef`` with its own
access and hands the values to the sidecar, which authenticates to Sentry with a projected
token the injector mounts for it alone (:mod:`infra.dapr.sidecar`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import field_validator

from infra.component import ComponentArgs, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name, require_dns_label
from infra.workload import object_meta


def service_account_name(instance: str, workload: str) -> str:
    """The ServiceAccount a workload's pods run as."""
    return child_name(instance, workload)


class RbacArgs(ComponentArgs):
    workloads: tuple[str, ...]

    @field_validator("workloads")
    @classmethod
    def _dns_labels(cls, workloads: tuple[str, ...]) -> tuple[str, ...]:
        for workload in workloads:
            require_dns_label(workload, field="workloads")
        return workloads


class Rbac(pulumi.ComponentResource):
    """A ServiceAccount for every workload, none of them granted anything."""

    accounts: dict[str, core.ServiceAccount]
    """Each workload's ServiceAccount: what its pods' controller must depend on, so that the
    account exists before the first pod is created and outlives the last one."""

    def __init__(
        self,
        name: str,
        args: RbacArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        annotations: Mapping[str, Mapping[str, pulumi.Input[str]]] | None = None,
    ) -> None:
        """``annotations`` by workload: what a cloud's workload identity reads on the account
        (an IAM role's ARN, a Google service account, an Azure client id). They arrive as the
        identity's outputs, so the account is made after the identity it names."""
        super().__init__("todo:infra:Rbac", name, None, opts)
        child = child_options(self, opts)
        self.accounts = {}
        for workload in args.workloads:
            account = core.ServiceAccount(
                f"{name}-{workload}",
                metadata=object_meta(
                    service_account_name(args.instance, workload),
                    namespace=args.namespace,
                    labels=unversioned_labels("todo", args.instance, workload),
                    annotations=(annotations or {}).get(workload),
                ),
                automount_service_account_token=False,
                opts=child,
            )
            self.accounts[workload] = account
        self.register_outputs(
            {"service_accounts": {w: a.metadata.name for w, a in self.accounts.items()}}
        )
