"""What every cloud's backup bucket offers the platform, and whom it trusts.

With ``backup.objectStore``, the cluster component of each cloud makes, beside the cluster, a
bucket (or blob container) for the dumps and an identity that may use that bucket's objects and
nothing else, trusted by one Kubernetes ServiceAccount only: the backup CronJob's. The platform
then runs the CronJob as that ServiceAccount, annotated for the cloud's workload identity, and
points ``todo-api backup`` at the bucket. The bucket's contract everywhere:

- no public access, encryption at rest, versioning (a pruned dump stays ``noncurrentDays``);
- a lifecycle rule that deletes dumps older than ``expireDays`` under the prefix (a backstop
  behind ``backup.keep``, which the Job applies after every dump) and their old versions;
- the identity may list, read, write and delete objects (under the prefix where the cloud can
  say so), and cannot change the bucket, its policy or anything else.

The modules per cloud: ``eks_backups`` (S3 and an IRSA role), ``gke_backups`` (Cloud Storage and
a Google service account bound through Workload Identity), ``aks_backups`` (a storage account's
blob container and a user-assigned identity with a federated credential).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pulumi

from infra.backup import ObjectDestination, ObjectStoreSettings

ABORT_UPLOADS_AFTER_DAYS = 1
"""A dump's upload left open (its Job killed mid-dump) is dropped after a day: it never became
an object, and its parts would be billed until then."""


@dataclass(frozen=True)
class BackupAccount:
    """The backup CronJob's ServiceAccount, which alone the cloud identity trusts, and where
    its dumps go."""

    namespace: str
    service_account: str
    settings: ObjectStoreSettings

    @property
    def subject(self) -> str:
        """The ServiceAccount as its tokens name it (``sub``)."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def key_prefix(self) -> str:
        """The keys the dumps are written under, with the separator."""
        return f"{self.settings.prefix}/"


class BackupStore(Protocol):
    """What the platform needs of a cloud's backup bucket."""

    destination: ObjectDestination
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    """What the backup ServiceAccount must carry for the cloud to map it to the identity."""
    grants: Sequence[pulumi.Resource]
    """What gives the identity its access: the CronJob waits for them."""
