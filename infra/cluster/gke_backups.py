"""The backup bucket on GKE: a Cloud Storage bucket and a Google service account that only the
backup CronJob's Kubernetes ServiceAccount can act as, through Workload Identity
(``infra/cluster/backup_store.py`` has the contract).

The Google account holds one role on this bucket alone, ``roles/storage.objectUser`` (list,
read, write and delete objects; no bucket settings, no IAM), and no role on the project. The
scope is the bucket, not the prefix: Cloud Storage checks listing on the bucket, where a
condition on object names does not apply, so the bucket is the dumps' own. Uniform bucket-level
access (no object ACLs) and enforced public access prevention; Cloud Storage encrypts every
object at rest with Google-managed keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp

from infra.backup import ObjectDestination
from infra.cluster.backup_store import ABORT_UPLOADS_AFTER_DAYS, BackupAccount

OBJECT_ROLE = "roles/storage.objectUser"
WORKLOAD_IDENTITY_ROLE = "roles/iam.workloadIdentityUser"
ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
"""What the GKE metadata server reads to answer a pod as the Google service account."""


def workload_member(project: str, account: BackupAccount) -> str:
    """The Kubernetes ServiceAccount as Workload Identity names it."""
    return f"serviceAccount:{project}.svc.id.goog[{account.namespace}/{account.service_account}]"


class GkeBackupStore(pulumi.ComponentResource):
    """The bucket with its lifecycle, the Google account and the two bindings."""

    destination: ObjectDestination
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    grants: Sequence[pulumi.Resource]

    def __init__(
        self,
        name: str,
        account: BackupAccount,
        *,
        project: str,
        region: str,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("todo:infra:GkeBackupStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = account.settings
        rule = gcp.storage.BucketLifecycleRuleArgs
        condition = gcp.storage.BucketLifecycleRuleConditionArgs
        action = gcp.storage.BucketLifecycleRuleActionArgs
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=settings.bucket,
            project=project,
            location=region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                rule(
                    action=action(type="Delete"),
                    condition=condition(
                        age=settings.expire_days, matches_prefixes=[account.key_prefix]
                    ),
                ),
                rule(
                    action=action(type="Delete"),
                    condition=condition(
                        days_since_noncurrent_time=settings.noncurrent_days, with_state="ARCHIVED"
                    ),
                ),
                rule(
                    action=action(type="AbortIncompleteMultipartUpload"),
                    condition=condition(age=ABORT_UPLOADS_AFTER_DAYS),
                ),
            ],
            labels=dict(labels),
            opts=child,
        )
        google_account = gcp.serviceaccount.Account(
            f"{name}-account",
            project=project,
            account_id=f"{name}"[:30],
            display_name="todo backup CronJob",
            opts=child,
        )
        objects = gcp.storage.BucketIAMMember(
            f"{name}-objects",
            bucket=bucket.name,
            role=OBJECT_ROLE,
            member=google_account.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child,
        )
        binding = gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=google_account.name,
            role=WORKLOAD_IDENTITY_ROLE,
            member=workload_member(project, account),
            opts=child,
        )
        self.destination = ObjectDestination(url=f"gs://{settings.bucket}/{settings.prefix}")
        self.service_account_annotations = {ACCOUNT_ANNOTATION: google_account.email}
        self.grants = [objects, binding]
        self.register_outputs({"bucket": bucket.name, "account": google_account.email})
