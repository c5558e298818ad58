"""The credentials Secret: database and Redis passwords, the JWT signing key, and the URLs
that embed those passwords.

The URLs live here rather than in the ConfigMap because a connection URL holding a password is
a secret. Values arrive as ``SecretStr`` and are wrapped in ``Output.secret``, so Pulumi
encrypts them in its state and masks them in its output.
"""

from __future__ import annotations

from urllib.parse import quote

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import SecretStr

from infra.component import ComponentArgs, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

# The three names below are keys inside the Secret, not secret values.
POSTGRES_PASSWORD_KEY = "POSTGRES_PASSWORD"  # noqa: S105 - a key name, not a password
REDIS_PASSWORD_KEY = "REDIS_PASSWORD"  # noqa: S105 - a key name, not a password
JWT_SECRET_KEY = "TODO_JWT_SECRET"  # noqa: S105 - a key name, not a secret
DATABASE_URL_KEY = "TODO_DATABASE_URL"
REDIS_URL_KEY = "TODO_REDIS_URL"


def secret_name(instance: str) -> str:
    """The name of the credentials Secret of a platform instance."""
    return child_name(instance, "credentials")


class CredentialsArgs(ComponentArgs):
    """The secret values and where the servers they unlock are reached."""

    postgres_password: SecretStr
    redis_password: SecretStr
    jwt_secret: SecretStr
    postgres_host: str
    postgres_port: int
    postgres_database: str
    postgres_user: str
    redis_host: str
    redis_port: int


class Credentials(pulumi.ComponentResource):
    """One Opaque Secret the workloads read with ``envFrom``/``secretKeyRef``."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Credentials", name, None, opts)
        postgres_password = args.postgres_password.get_secret_value()
        redis_password = args.redis_password.get_secret_value()
        database_url = (
            f"postgresql+psycopg://{quote(args.postgres_user, safe='')}:"
            f"{quote(postgres_password, safe='')}@{args.postgres_host}:{args.postgres_port}/"
            f"{args.postgres_database}"
        )
        redis_url = (
            f"redis://:{quote(redis_password, safe='')}@{args.redis_host}:{args.redis_port}/0"
        )
        secret = core.Secret(
            f"{name}-secret",
            metadata=object_meta(
                secret_name(args.instance),
                namespace=args.namespace,
                labels=unversioned_labels("todo", args.instance, "credentials"),
            ),
            type="Opaque",
            string_data=pulumi.Output.secret(
                {
                    POSTGRES_PASSWORD_KEY: postgres_password,
                    REDIS_PASSWORD_KEY: redis_password,
                    JWT_SECRET_KEY: args.jwt_secret.get_secret_value(),
                    DATABASE_URL_KEY: database_url,
                    REDIS_URL_KEY: redis_url,
                }
            ),
            opts=child_options(self, opts),
        )
        self.name = secret.metadata.name
        self.register_outputs({"name": self.name})
