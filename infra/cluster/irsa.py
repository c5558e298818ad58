"""IRSA: how an IAM role trusts one Kubernetes ServiceAccount of an EKS cluster.

EKS's pod identity webhook gives a pod whose ServiceAccount is annotated with a role's ARN a
projected token (audience ``sts.amazonaws.com``) and the variables the AWS SDKs read
(``AWS_ROLE_ARN``, ``AWS_WEB_IDENTITY_TOKEN_FILE``); STS exchanges the token for the role's
credentials only when the role's trust policy names the cluster's OIDC provider and the token's
subject. Both the EBS CSI driver and the backup CronJob are trusted this way.
"""

from __future__ import annotations

import json


def irsa_trust(provider_arn: str, issuer_url: str, subject: str) -> str:
    """Trust one Kubernetes service account, through the cluster's OIDC provider, and no other."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": subject,
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )
