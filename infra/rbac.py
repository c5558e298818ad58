"""One ServiceAccount per workload, and the only API permission any of them gets.

No workload of the platform manages Kubernetes objects, so no account can list, watch or
write anything. Token automount is off on every account; a pod that needs a token (a Dapr
sidecar) says so itself. The one grant is ``get`` on the credentials Secret, by name, for the
workloads whose Dapr sidecar resolves secrets through Dapr's built-in ``kubernetes`` secret
store, which calls the API with the pod's own account.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.rbac.v1 as rbac
from pydantic import model_validator

from infra.component import ComponentArgs, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name, require_dns_label
from infra.workload import object_meta


def service_account_name(instance: str, workload: str) -> str:
    """The ServiceAccount a workload's pods run as."""
    return child_name(instance, workload)


class RbacArgs(ComponentArgs):
    workloads: tuple[str, ...]
    secret_readers: tuple[str, ...] = ()
    secret_name: str

    @model_validator(mode="after")
    def _readers_are_workloads(self) -> RbacArgs:
        for workload in self.workloads:
            require_dns_label(workload, field="workloads")
        unknown = sorted(set(self.secret_readers) - set(self.workloads))
        if unknown:
            raise ValueError(f"secret_readers {unknown!r} are not in workloads {self.workloads!r}")
        return self


class Rbac(pulumi.ComponentResource):
    """ServiceAccounts for every workload plus a Role/RoleBinding for the secret readers."""

    accounts: dict[str, core.ServiceAccount]
    """Each workload's ServiceAccount: what its pods' controller must depend on, so that the
    account exists before the first pod is created and outlives the last one."""

    def __init__(
        self, name: str, args: RbacArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Rbac", name, None, opts)
        child = child_options(self, opts)
        labels = unversioned_labels("todo", args.instance, "rbac")
        self.accounts = {}
        for workload in args.workloads:
            account = core.ServiceAccount(
                f"{name}-{workload}",
                metadata=object_meta(
                    service_account_name(args.instance, workload),
                    namespace=args.namespace,
                    labels=unversioned_labels("todo", args.instance, workload),
                ),
                automount_service_account_token=False,
                opts=child,
            )
            self.accounts[workload] = account
        if args.secret_readers:
            role_name = child_name(args.instance, "secret-reader")
            role = rbac.Role(
                f"{name}-secret-reader",
                metadata=object_meta(role_name, namespace=args.namespace, labels=labels),
                rules=[
                    rbac.PolicyRuleArgs(
                        api_groups=[""],
                        resources=["secrets"],
                        resource_names=[args.secret_name],
                        verbs=["get"],
                    )
                ],
                opts=child,
            )
            rbac.RoleBinding(
                f"{name}-secret-reader-binding",
                metadata=object_meta(role_name, namespace=args.namespace, labels=labels),
                role_ref=rbac.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
                ),
                subjects=[
                    rbac.SubjectArgs(
                        kind="ServiceAccount",
                        name=service_account_name(args.instance, reader),
                        namespace=args.namespace,
                    )
                    for reader in args.secret_readers
                ],
                opts=child,
            )
        self.register_outputs(
            {"service_accounts": {w: a.metadata.name for w, a in self.accounts.items()}}
        )
