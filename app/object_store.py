"""Object-store locations for dumps: ``s3://bucket/prefix``, ``gs://bucket/prefix`` and
``az://container/prefix``, reached through one library, obstore (Rust's ``object_store``).

One library instead of three SDKs: the same put, list, get and delete on every cloud, and its
credential chains read each cloud's workload identity from the standard environment, which is
all the backup Job is given (no static key anywhere):

- S3: ``AWS_ROLE_ARN`` and ``AWS_WEB_IDENTITY_TOKEN_FILE``, which EKS's IRSA webhook injects
  (then the instance metadata, then ``AWS_ACCESS_KEY_ID``);
- GCS: ``GOOGLE_APPLICATION_CREDENTIALS``, else the metadata server, which GKE Workload Identity
  answers as the Google service account the Kubernetes one is bound to;
- Azure: ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID`` and ``AZURE_FEDERATED_TOKEN_FILE``, which AKS's
  workload identity webhook injects. The storage account is not part of an ``az://`` URL: it
  comes from ``AZURE_STORAGE_ACCOUNT_NAME`` (obstore's name) or ``AZURE_STORAGE_ACCOUNT`` (the
  Azure CLI's).

The endpoint may be moved with the same environment (``AWS_ENDPOINT_URL`` with
``AWS_ALLOW_HTTP``, ``AZURE_STORAGE_USE_EMULATOR``, ``GOOGLE_BASE_URL``), which is how the tests
reach local emulators.

Bucket and container names are checked here, with each cloud's rules, so that the command line
and the stack's settings refuse the same names with the same words.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from obstore.store import ObjectStore

Scheme = Literal["s3", "gs", "az"]
SERVICES: dict[Scheme, str] = {
    "s3": "S3 bucket",
    "gs": "GCS bucket",
    "az": "Azure blob container",
}
"""What the first part of each scheme's URL names."""
AZURE_ACCOUNT_VARIABLES = ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT")
_URL = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/]*)(?:/(?P<prefix>.*))?$")
_BUCKET = {
    # S3: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or
    # digit, not shaped like an IP address.
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    # GCS: the same characters plus '_', 3-63 (names with dots may be longer, but are domain
    # names that need verifying: not offered here).
    "gs": re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$"),
    # Azure containers: 3-63 lower-case letters, digits and single hyphens.
    "az": re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$"),
}
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._-]+$")


class ObjectUrlError(ValueError):
    """A string that is not a usable object-store URL; the message says which part is wrong."""


def bucket_problem(scheme: Scheme, name: str) -> str | None:
    """Why ``name`` cannot be a bucket (container) of ``scheme``, or None when it can."""
    if not _BUCKET[scheme].match(name):
        return (
            f"{name!r} is not a valid {SERVICES[scheme]} name: 3-63 lower-case letters, digits"
            + {"s3": ", '.' and '-'", "gs": ", '.', '_' and '-'", "az": " and single '-'"}[scheme]
            + ", starting and ending with a letter or digit"
        )
    if scheme != "az" and (".." in name or re.fullmatch(r"[0-9.]+", name)):
        return f"{name!r} is not a valid {SERVICES[scheme]} name: no '..' and not an IP address"
    return None


def prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot hold dumps, or None; an empty prefix is the bucket's root."""
    if prefix and not all(_PREFIX_PART.match(part) for part in prefix.split("/")):
        return (
            f"prefix {prefix!r} must be '/'-separated parts of letters, digits, '.', '_' and "
            "'-' (no empty part, no leading or trailing '/')"
        )
    return None


def is_object_url(value: str) -> bool:
    """Whether ``value`` names an object store (and not a folder)."""
    return value.split("://", 1)[0] in SERVICES and "://" in value


@dataclass(frozen=True)
class ObjectUrl:
    """A bucket (or container) and the key prefix dumps go under."""

    scheme: Scheme
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, value: str) -> ObjectUrl:
        match = _URL.match(value)
        scheme = match.group("scheme") if match else ""
        if match is None or scheme not in SERVICES:
            raise ObjectUrlError(
                f"{value} is not an object-store URL: use s3://BUCKET/PREFIX, gs://BUCKET/PREFIX "
                "or az://CONTAINER/PREFIX"
            )
        bucket, prefix = match.group("bucket"), (match.group("prefix") or "").rstrip("/")
        problem = bucket_problem(scheme, bucket) or prefix_problem(prefix)
        if problem:
            raise ObjectUrlError(f"{value} is not usable: {problem}")
        return cls(scheme=scheme, bucket=bucket, prefix=prefix)

    def key(self, name: str) -> str:
        """The key of the object ``name`` under the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    def __str__(self) -> str:
        return self.url(self.prefix)


def azure_account(env: os._Environ[str] | dict[str, str] | None = None) -> str | None:
    """The storage account an ``az://`` URL lives in, from the standard variables."""
    env = os.environ if env is None else env
    for variable in AZURE_ACCOUNT_VARIABLES:
        if env.get(variable):
            return env[variable]
    return None


def open_store(url: ObjectUrl) -> ObjectStore:
    """A client for ``url``'s bucket, with the credentials its cloud's environment offers.

    obstore is imported here, so only the commands that reach a store load it.
    """
    from obstore.store import AzureStore, GCSStore, S3Store

    if url.scheme == "s3":
        return S3Store(url.bucket)
    if url.scheme == "gs":
        return GCSStore(url.bucket)
    emulator = os.environ.get("AZURE_STORAGE_USE_EMULATOR", "").lower() in {"1", "true"}
    account = azure_account()
    if account is None and not emulator:
        raise ObjectUrlError(
            f"an az:// URL needs its storage account: set {' or '.join(AZURE_ACCOUNT_VARIABLES)}"
        )
    return AzureStore(url.bucket, account_name=account) if account else AzureStore(url.bucket)
