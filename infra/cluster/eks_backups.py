"""The backup bucket on EKS: an S3 bucket and an IAM role for IRSA that only the backup CronJob's
ServiceAccount can assume (``infra/cluster/backup_store.py`` has the contract).

The role may put, get and delete objects under the prefix (and abort its own multipart
uploads), and list the bucket only for keys under the prefix; nothing else, not even reading the
bucket's settings. The bucket refuses public access (all four public access blocks), requests
without TLS (bucket policy), and ACLs (owner enforced); objects are encrypted with S3-managed
keys (SSE-S3), which need no KMS grant for the role.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.backup import ObjectDestination
from infra.cluster.backup_store import ABORT_UPLOADS_AFTER_DAYS, BackupAccount
from infra.cluster.irsa import irsa_trust

OBJECT_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
"""Write a dump (multipart included), read it back for a restore, prune old ones."""
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
"""What EKS's pod identity webhook reads to inject the role and its web identity token."""


def access_policy(bucket_arn: str, prefix: str) -> str:
    """The role's only permissions: objects under ``prefix`` and listing those keys."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Dumps",
                    "Effect": "Allow",
                    "Action": list(OBJECT_ACTIONS),
                    "Resource": f"{bucket_arn}/{prefix}*",
                },
                {
                    "Sid": "ListDumps",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
                },
            ],
        }
    )


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


class EksBackupStore(pulumi.ComponentResource):
    """The bucket, its safeguards and lifecycle, and the IRSA role of the backup Job."""

    destination: ObjectDestination
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    grants: Sequence[pulumi.Resource]

    def __init__(
        self,
        name: str,
        account: BackupAccount,
        *,
        region: str,
        oidc: aws.iam.OpenIdConnectProvider,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("todo:infra:EksBackupStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = account.settings
        prefix = account.key_prefix
        bucket = aws.s3.Bucket(f"{name}-bucket", bucket=settings.bucket, opts=child)
        guards: list[pulumi.Resource] = [
            aws.s3.BucketPublicAccessBlock(
                f"{name}-public-access",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            ),
            aws.s3.BucketOwnershipControls(
                f"{name}-ownership",
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=child,
            ),
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-encryption",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    )
                ],
                opts=child,
            ),
            aws.s3.BucketPolicy(
                f"{name}-tls-only",
                bucket=bucket.id,
                policy=bucket.arn.apply(tls_only_policy),
                opts=child,
            ),
        ]
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-dumps",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=settings.expire_days
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=settings.noncurrent_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_UPLOADS_AFTER_DAYS
                    ),
                )
            ],
            # S3 refuses noncurrent-version rules until versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.all(oidc.arn, oidc.url).apply(
                lambda values: irsa_trust(values[0], values[1], account.subject)
            ),
            opts=child,
        )
        access = aws.iam.RolePolicy(
            f"{name}-access",
            role=role.name,
            policy=bucket.arn.apply(lambda arn: access_policy(arn, prefix)),
            opts=child,
        )
        self.destination = ObjectDestination(
            url=f"s3://{settings.bucket}/{settings.prefix}", env={"AWS_REGION": region}
        )
        self.service_account_annotations = {ROLE_ANNOTATION: role.arn}
        self.grants = [access, *guards]
        outputs: dict[str, Any] = {"bucket": bucket.id, "role": role.arn}
        self.register_outputs(outputs)
