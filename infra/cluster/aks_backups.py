"""The backup container on AKS: a storage account with one blob container, and a user-assigned
identity that only the backup CronJob's ServiceAccount can sign in as, through a federated
credential on the cluster's OIDC issuer (``infra/cluster/backup_store.py`` has the contract).

The identity holds one role, Storage Blob Data Contributor, scoped to the container (read,
write, delete and list its blobs; nothing on the account's settings or other containers). The
account refuses anonymous access and shared keys (only Entra ID tokens sign, so no account key
can leak), and plain HTTP below TLS 1.2; Azure encrypts every blob at rest with
Microsoft-managed keys. AKS's workload identity webhook gives pods labelled
``azure.workload.identity/use`` whose ServiceAccount names the identity's client id a projected
token and ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID`` and ``AZURE_FEDERATED_TOKEN_FILE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_azure_native as azure
from pulumi_azure_native import containerservice as aks
from pulumi_azure_native import storage

from infra.backup import ObjectDestination
from infra.cluster.azure_roles import grant_builtin_role
from infra.cluster.backup_store import BackupAccount

BLOB_CONTRIBUTOR_ROLE = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""The built-in Storage Blob Data Contributor role."""
TOKEN_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a secret
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
"""The pod label AKS's workload identity webhook selects pods by."""


def _issuer(profile: aks.outputs.ManagedClusterOIDCIssuerProfileResponse | None) -> str:
    issuer = profile.issuer_url if profile is not None else None
    if not issuer:
        raise ValueError("the AKS cluster reports no OIDC issuer: workload identity is off")
    return str(issuer)


class AksBackupStore(pulumi.ComponentResource):
    """The storage account and container, their lifecycle, the identity and its one role."""

    destination: ObjectDestination
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    grants: Sequence[pulumi.Resource]

    def __init__(
        self,
        name: str,
        account: BackupAccount,
        *,
        group: azure.resources.ResourceGroup,
        cluster: aks.ManagedCluster,
        location: str,
        zoned: bool,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("todo:infra:AksBackupStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = account.settings
        if settings.account is None:
            raise ValueError("backup.objectStore.account is required on AKS")
        storage_account = storage.StorageAccount(
            f"{name}-account",
            account_name=settings.account,
            resource_group_name=group.name,
            location=location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_ZRS" if zoned else "Standard_LRS"),
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            tags=dict(tags),
            opts=child,
        )
        storage.BlobServiceProperties(
            f"{name}-versioning",
            account_name=storage_account.name,
            resource_group_name=group.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=settings.noncurrent_days
            ),
            opts=child,
        )
        container = storage.BlobContainer(
            f"{name}-container",
            account_name=storage_account.name,
            resource_group_name=group.name,
            container_name=settings.bucket,
            public_access=storage.PublicAccess.NONE,
            opts=child,
        )
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            account_name=storage_account.name,
            resource_group_name=group.name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name="expire-dumps",
                        enabled=True,
                        type="Lifecycle",
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(
                                blob_types=["blockBlob"],
                                prefix_match=[f"{settings.bucket}/{account.key_prefix}"],
                            ),
                            actions=storage.ManagementPolicyActionArgs(
                                base_blob=storage.ManagementPolicyBaseBlobArgs(
                                    delete=storage.DateAfterModificationArgs(
                                        days_after_modification_greater_than=settings.expire_days
                                    )
                                ),
                                version=storage.ManagementPolicyVersionArgs(
                                    delete=storage.DateAfterCreationArgs(
                                        days_after_creation_greater_than=settings.noncurrent_days
                                    )
                                ),
                            ),
                        ),
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[container]),
        )
        identity = azure.managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_group_name=group.name,
            location=location,
            tags=dict(tags),
            opts=child,
        )
        federated = azure.managedidentity.FederatedIdentityCredential(
            f"{name}-federated",
            resource_group_name=group.name,
            resource_name_=identity.name,
            issuer=cluster.oidc_issuer_profile.apply(_issuer),
            subject=account.subject,
            audiences=[TOKEN_AUDIENCE],
            opts=child,
        )
        role = grant_builtin_role(
            f"{name}-blob-contributor",
            role=BLOB_CONTRIBUTOR_ROLE,
            principal_id=identity.principal_id,
            scope=container.id,
            opts=child,
        )
        self.destination = ObjectDestination(
            url=f"az://{settings.bucket}/{settings.prefix}",
            env={"AZURE_STORAGE_ACCOUNT_NAME": settings.account},
            pod_labels={USE_LABEL: "true"},
        )
        self.service_account_annotations = {CLIENT_ID_ANNOTATION: identity.client_id}
        self.grants = [role, federated]
        self.register_outputs({"container": container.id, "identity": identity.client_id})
