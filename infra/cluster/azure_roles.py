"""Granting an Azure built-in role to a managed identity on one resource, and nowhere else."""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure


def grant_builtin_role(
    name: str,
    *,
    role: str,
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> azure.authorization.RoleAssignment:
    """``role`` (a built-in role definition's id) for ``principal_id`` on ``scope`` alone.

    Role definitions are named per subscription, so the id is completed with the deploying
    credentials' subscription.
    """
    subscription = azure.authorization.get_client_config_output(
        opts=pulumi.InvokeOutputOptions(parent=opts.parent)
    ).subscription_id
    return azure.authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=subscription.apply(
            lambda sub: (
                f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
            )
        ),
        scope=scope,
        opts=opts,
    )
