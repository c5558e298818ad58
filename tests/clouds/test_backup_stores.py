"""The backup bucket of each cloud under mocks: the bucket's safeguards and lifecycle, an identity
scoped to that bucket (and prefix, where the cloud can say so), trusted by the backup
CronJob's ServiceAccount alone, and what that ServiceAccount and its pods must carry; then the
stack settings that choose it, and the rendered cloud stacks."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra.backup import ObjectStoreSettings
from infra.cluster import AksSettings, EksSettings, GkeSettings
from infra.cluster.aks import AksCluster, AksClusterArgs
from infra.cluster.aks_backups import BLOB_CONTRIBUTOR_ROLE
from infra.cluster.backup_store import BackupAccount
from infra.cluster.eks import EksCluster, EksClusterArgs
from infra.cluster.gke import GkeCluster, GkeClusterArgs
from stacks.config import StackConfigError, stack_config
from tests.clouds.harness import Recording, build_cluster, run

SUBJECT = "system:serviceaccount:todo-app:todo-backup"
BACKUP_COUNTS = {
    "eks": {
        "aws:s3/bucket:Bucket": 1,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
        "aws:s3/bucketPolicy:BucketPolicy": 1,
        "aws:s3/bucketVersioning:BucketVersioning": 1,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
        "aws:iam/role:Role": 1,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "todo:infra:EksBackupStore": 1,
    },
    "gke": {
        "gcp:storage/bucket:Bucket": 1,
        "gcp:serviceaccount/account:Account": 1,
        "gcp:storage/bucketIAMMember:BucketIAMMember": 1,
        "gcp:serviceaccount/iAMMember:IAMMember": 1,
        "todo:infra:GkeBackupStore": 1,
    },
    "aks": {
        "azure-native:storage:StorageAccount": 1,
        "azure-native:storage:BlobServiceProperties": 1,
        "azure-native:storage:BlobContainer": 1,
        "azure-native:storage:ManagementPolicy": 1,
        "azure-native:managedidentity:UserAssignedIdentity": 1,
        "azure-native:managedidentity:FederatedIdentityCredential": 1,
        "azure-native:authorization:RoleAssignment": 1,
        "todo:infra:AksBackupStore": 1,
    },
}
"""What each cloud's backup store adds to its cluster's graph."""


def with_backups(cloud: str, counts: dict[str, int]) -> dict[str, int]:
    """A cluster's resource counts plus its backup store's."""
    merged = dict(counts)
    for kind, count in BACKUP_COUNTS[cloud].items():
        merged[kind] = merged.get(kind, 0) + count
    return merged


def _account(**settings: Any) -> BackupAccount:
    return BackupAccount(
        namespace="todo-app",
        service_account="todo-backup",
        settings=ObjectStoreSettings.model_validate({"bucket": "todo-prod-backups", **settings}),
    )


def _annotations(cluster: Any) -> dict[str, Any]:
    """The ServiceAccount annotations, resolved under the mocks."""
    store = cluster.backup_store
    assert store is not None
    resolved: dict[str, Any] = {}

    def program() -> None:
        for key, value in store.service_account_annotations.items():
            pulumi.Output.from_input(value).apply(lambda v, key=key: resolved.__setitem__(key, v))

    run(program)
    return resolved


def _eks() -> tuple[Recording, EksCluster]:
    settings = EksSettings.model_validate({"provider": "eks", "region": "eu-west-1"})
    return build_cluster(
        lambda: EksCluster(
            "prod", EksClusterArgs(settings=settings, backup=_account(prefix="db/dumps"))
        )
    )


def _gke() -> tuple[Recording, GkeCluster]:
    settings = GkeSettings.model_validate(
        {"provider": "gke", "project": "todo-prod-123", "region": "europe-west1"}
    )
    return build_cluster(
        lambda: GkeCluster("prod", GkeClusterArgs(settings=settings, backup=_account()))
    )


def _aks() -> tuple[Recording, AksCluster]:
    settings = AksSettings.model_validate({"provider": "aks", "location": "westeurope"})
    return build_cluster(
        lambda: AksCluster(
            "prod",
            AksClusterArgs(settings=settings, backup=_account(account="todoprodbackups")),
        )
    )


@pytest.mark.parametrize("cloud", ["eks", "gke", "aks"])
def test_the_graph_is_the_cluster_plus_the_backup_store(cloud: str) -> None:
    from tests.clouds import test_aks, test_eks, test_gke

    base = {"eks": test_eks, "gke": test_gke, "aks": test_aks}[cloud].EXPECTED_COUNTS
    recording, _ = {"eks": _eks, "gke": _gke, "aks": _aks}[cloud]()
    assert recording.counts() == with_backups(cloud, base)


# EKS: S3 and IRSA


def test_s3_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    recording, _ = _eks()
    bucket = recording.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == "todo-prod-backups"
    block = recording.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[key]
        for key in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    ownership = recording.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    encryption = recording.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    versioning = recording.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    (deny,) = json.loads(recording.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])[
        "Statement"
    ]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_s3_lifecycle_matches_retention_under_the_prefix() -> None:
    recording, _ = _eks()
    lifecycle = recording.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": "db/dumps/"}
    assert rule["expiration"] == {"days": 35}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 7}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    versioning = recording.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.urn in lifecycle.dependencies


def test_irsa_role_is_trusted_by_the_backup_service_account_alone() -> None:
    recording, _ = _eks()
    role = recording.one("aws:iam/role:Role", "prod-backups-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith("prod-oidc")
    issuer = "oidc.eks.offline.invalid/id/prod-eks"
    assert statement["Condition"] == {
        "StringEquals": {f"{issuer}:sub": SUBJECT, f"{issuer}:aud": "sts.amazonaws.com"}
    }


def test_irsa_role_may_only_use_objects_under_the_prefix() -> None:
    recording, _ = _eks()
    policy = recording.one("aws:iam/rolePolicy:RolePolicy", "prod-backups-access")
    objects, listing = json.loads(policy.inputs["policy"])["Statement"]
    assert sorted(objects["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert objects["Resource"] == "arn:aws:s3:::todo-prod-backups/db/dumps/*"
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"] == "arn:aws:s3:::todo-prod-backups"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["db/dumps/", "db/dumps/*"]}}
    attached = {
        a.inputs["role"]
        for a in recording.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert "prod-backups-role" not in attached, "no managed policy on the backup role"


def test_eks_service_account_names_the_role_and_the_job_its_region() -> None:
    recording, cluster = _eks()
    assert _annotations(cluster) == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::000000000000:prod-backups-role"
    }
    store = cluster.backup_store
    assert store is not None
    assert store.destination.url == "s3://todo-prod-backups/db/dumps"
    assert store.destination.env == {"AWS_REGION": "eu-west-1"}
    aws_resources = [r for r in recording.resources if r.type.startswith("aws:")]
    assert {r.provider_name for r in aws_resources} == {"prod-aws"}


# GKE: Cloud Storage and Workload Identity


def test_gcs_bucket_is_private_versioned_with_the_lifecycle() -> None:
    recording, _ = _gke()
    bucket = recording.one("gcp:storage/bucket:Bucket").inputs
    assert bucket["name"] == "todo-prod-backups"
    assert bucket["location"] == "europe-west1"
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["lifecycleRules"] == [
        {"action": {"type": "Delete"}, "condition": {"age": 35, "matchesPrefixes": ["postgres/"]}},
        {
            "action": {"type": "Delete"},
            "condition": {"daysSinceNoncurrentTime": 7, "withState": "ARCHIVED"},
        },
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 1}},
    ]


def test_google_account_holds_object_access_on_this_bucket_only() -> None:
    recording, _ = _gke()
    (member,) = recording.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert member.inputs["bucket"] == "todo-prod-backups"
    assert member.inputs["role"] == "roles/storage.objectUser"
    assert (
        member.inputs["member"]
        == "serviceAccount:prod-backups-account@offline.iam.gserviceaccount.com"
    )
    project_roles = {
        m.inputs["member"] for m in recording.of_type("gcp:projects/iAMMember:IAMMember")
    }
    assert member.inputs["member"] not in project_roles, "no project-wide role"


def test_workload_identity_binds_the_backup_service_account_alone() -> None:
    recording, cluster = _gke()
    (binding,) = recording.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert binding.inputs["member"] == (
        "serviceAccount:todo-prod-123.svc.id.goog[todo-app/todo-backup]"
    )
    assert binding.inputs["serviceAccountId"].endswith(
        "prod-backups-account@offline.iam.gserviceaccount.com"
    )
    assert _annotations(cluster) == {
        "iam.gke.io/gcp-service-account": "prod-backups-account@offline.iam.gserviceaccount.com"
    }
    store = cluster.backup_store
    assert store is not None
    assert store.destination.url == "gs://todo-prod-backups/postgres"


# AKS: Blob Storage and Azure Workload Identity


def test_storage_account_refuses_anonymous_access_and_shared_keys() -> None:
    recording, _ = _aks()
    account = recording.one("azure-native:storage:StorageAccount").inputs
    assert account["accountName"] == "todoprodbackups"
    assert account["allowBlobPublicAccess"] is False
    assert account["allowSharedKeyAccess"] is False
    assert account["enableHttpsTrafficOnly"] is True
    assert account["minimumTlsVersion"] == "TLS1_2"
    container = recording.one("azure-native:storage:BlobContainer").inputs
    assert container["containerName"] == "todo-prod-backups"
    assert container["publicAccess"] == "None"
    service = recording.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["isVersioningEnabled"] is True
    (rule,) = recording.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    assert rule["definition"]["filters"]["prefixMatch"] == ["todo-prod-backups/postgres/"]
    actions = rule["definition"]["actions"]
    assert actions["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 35}
    assert actions["version"]["delete"] == {"daysAfterCreationGreaterThan": 7}


def test_federated_credential_trusts_the_backup_service_account_alone() -> None:
    recording, cluster = _aks()
    federated = recording.one("azure-native:managedidentity:FederatedIdentityCredential").inputs
    assert federated["subject"] == SUBJECT
    assert federated["audiences"] == ["api://AzureADTokenExchange"]
    assert federated["issuer"] == "https://oidc.aks.invalid/prod-aks/"
    assert federated["resourceName"] == "prod-backups-identity"
    assert _annotations(cluster) == {
        "azure.workload.identity/client-id": "prod-backups-identity-client"
    }
    store = cluster.backup_store
    assert store is not None
    assert store.destination.pod_labels == {"azure.workload.identity/use": "true"}
    assert store.destination.env == {"AZURE_STORAGE_ACCOUNT_NAME": "todoprodbackups"}


def test_blob_contributor_is_scoped_to_the_container() -> None:
    recording, _ = _aks()
    assignments = {
        r.name: r.inputs for r in recording.of_type("azure-native:authorization:RoleAssignment")
    }
    role = assignments["prod-backups-blob-contributor"]
    assert role["roleDefinitionId"].endswith(f"/roleDefinitions/{BLOB_CONTRIBUTOR_ROLE}")
    assert role["scope"] == "prod-backups-container-id"
    assert role["principalId"] == "prod-backups-identity-principal"


# Settings


BASE = {
    "profile": "prod",
    "appImage": "registry.example.com/todo/todo-api@sha256:" + "0" * 64,
    "postgresPassword": "p" * 20,
    "redisPassword": "r" * 20,
    "jwtSecret": "j" * 40,
}
SECRETS = ("postgresPassword", "redisPassword", "jwtSecret")


@pytest.mark.parametrize(
    ("cluster", "store", "message"),
    [
        (
            {"provider": "none"},
            {"bucket": "todo-backups"},
            r"backup\.objectStore needs cluster\.provider eks, gke or aks",
        ),
        (
            {"provider": "eks", "region": "eu-west-1"},
            {"bucket": "Todo_Backups"},
            r"backup\.objectStore\.bucket: 'Todo_Backups' is not a valid S3 bucket name",
        ),
        (
            {"provider": "aks", "location": "westeurope"},
            {"bucket": "todo--backups", "account": "todoprod"},
            r"backup\.objectStore\.bucket: 'todo--backups' is not a valid Azure blob container",
        ),
        (
            {"provider": "aks", "location": "westeurope"},
            {"bucket": "todo-backups"},
            r"backup\.objectStore\.account is required with cluster\.provider aks",
        ),
        (
            {"provider": "gke", "project": "todo-prod-123", "region": "europe-west1"},
            {"bucket": "todo-backups", "account": "todoprod"},
            r"backup\.objectStore\.account is required with cluster\.provider aks .* only there",
        ),
        (
            {"provider": "eks", "region": "eu-west-1"},
            {"bucket": "todo-backups", "prefix": "a//b"},
            r"backup\.objectStore\.prefix: .*no empty part",
        ),
    ],
)
def test_bad_object_store_settings_name_the_key(
    cluster: dict[str, Any], store: dict[str, Any], message: str
) -> None:
    settings = {**BASE, "cluster": cluster, "backup": {"objectStore": store}}
    with pytest.raises(StackConfigError, match=message):
        stack_config(settings, SECRETS)


def test_the_backup_account_is_the_cron_jobs_service_account() -> None:
    config = stack_config(
        {
            **BASE,
            "cluster": {"provider": "eks", "region": "eu-west-1"},
            "backup": {"objectStore": {"bucket": "todo-backups"}},
        },
        SECRETS,
    )
    account = config.backup_account()
    assert account is not None
    assert account.subject == f"system:serviceaccount:{config.namespace}:todo-backup"


@pytest.mark.parametrize(
    ("stack", "url", "annotation"),
    [
        ("prod-eks", "s3://example-todo-prod-backups/postgres", "eks.amazonaws.com/role-arn"),
        ("prod-gke", "gs://example-todo-prod-backups/postgres", "iam.gke.io/gcp-service-account"),
        ("prod-aks", "az://todo-backups/postgres", "azure.workload.identity/client-id"),
    ],
)
def test_the_cloud_stacks_dump_into_their_bucket_as_the_annotated_account(
    stack: str, url: str, annotation: str
) -> None:
    """The example stacks' CronJob runs the service image's `todo-api backup` to the bucket,
    as a ServiceAccount carrying the identity annotation; no volume claim is made for dumps,
    and the CronJob waits for the identity's grants."""
    from stacks.render import run_stack
    from tests.clouds.test_stacks import settings_of
    from tests.infra.manifests import named, pod_spec

    rendered = run_stack(stack, *settings_of(stack))
    objects = rendered.manifests()
    cron_job = named(objects, "CronJob", "todo-backup")
    (container,) = pod_spec(cron_job)["containers"]
    assert container["image"] == settings_of(stack)[0]["appImage"]
    assert container["command"] == ["todo-api", "backup", "--to", url, "--keep", "7"]
    account = named(objects, "ServiceAccount", "todo-backup")
    assert annotation in account["metadata"]["annotations"]
    assert pod_spec(cron_job)["serviceAccountName"] == "todo-backup"
    assert "todo-backups" not in {
        m["metadata"]["name"] for m in objects if m["kind"] == "PersistentVolumeClaim"
    }
    by_name = {r.name: r for r in rendered.registrations}
    grants = {
        "prod-eks": "todo-cluster-backups-access",
        "prod-gke": "todo-cluster-backups-objects",
        "prod-aks": "todo-cluster-backups-blob-contributor",
    }[stack]
    assert grants in by_name["todo-backup"].dependencies
