"""The credentials Secret: database and Redis passwords, the JWT signing key, the Dapr app
token, and the URLs that embed those passwords.

The URLs live here rather than in the ConfigMap because a connection URL holding a password is
a secret. Values arrive as ``SecretStr`` and are wrapped in ``Output.secret``, so Pulumi
encrypts them in its state and masks them in its output.

The Dapr app token proves an event delivery comes from the API's own sidecar: the sidecar sends
it as ``dapr-api-token`` and the API refuses deliveries without it. It is derived from the JWT
key (HMAC-SHA256 with a fixed label) rather than asked for as a fourth secret: one-way, so the
token reveals nothing of the key; stable across runs, unlike a value drawn in the program; and
on for every stack without a new ``pulumi config set``. Rotating ``jwtSecret`` rotates it too.
Dapr's injector reads it from a Secret of its own under the fixed key ``token``
(``dapr.io/app-token-secret``); the API reads the same value as ``TODO_DAPR_APP_TOKEN``. Even
without Dapr the API gets it, so nothing can post to its event routes.

The database has two logins (``app/db_roles.py``): the administrator (``postgres.user``,
``postgresPassword``: the server's owner), whose URL ``TODO_DATABASE_ADMIN_URL`` only the
migration holds, and the app role (``postgres.appUser``), whose URL ``TODO_DATABASE_URL`` the
API and the relay connect with. The app role's password is derived from ``postgresPassword``
the same way, for the same reasons; the migration sets it at every run, so rotating
``postgresPassword`` rotates it once the backend rolls. Two more logins are derived the same
way: the monitoring role (``postgres.monitorUser``, postgres_exporter's, which reads
``POSTGRES_MONITOR_PASSWORD``) and the backup role (``postgres.backupUser``, the backup
CronJob's: ``POSTGRES_BACKUP_PASSWORD`` for the volume's script, ``TODO_DATABASE_BACKUP_URL``
for ``todo-api backup``); the migration holds their URLs to provision them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_kubernetes.core.v1 as core
from pydantic import Field, SecretStr

from infra.component import ComponentArgs, child_options
from infra.labels import unversioned_labels
from infra.naming import child_name
from infra.workload import object_meta

# The names below are keys inside the Secrets, not secret values.
POSTGRES_PASSWORD_KEY = "POSTGRES_PASSWORD"  # noqa: S105 - a key name, not a password
REDIS_PASSWORD_KEY = "REDIS_PASSWORD"  # noqa: S105 - a key name, not a password
REDIS_EXPORTER_PASSWORDS_KEY = "REDIS_EXPORTER_PASSWORDS"
JWT_SECRET_KEY = "TODO_JWT_SECRET"  # noqa: S105 - a key name, not a secret
DAPR_APP_TOKEN_KEY = "TODO_DAPR_APP_TOKEN"  # noqa: S105 - a key name, not a token
DAPR_INJECTOR_TOKEN_KEY = "token"  # noqa: S105 - the key Dapr's injector reads, not a token
DATABASE_URL_KEY = "TODO_DATABASE_URL"
DATABASE_ADMIN_URL_KEY = "TODO_DATABASE_ADMIN_URL"
DATABASE_MONITOR_URL_KEY = "TODO_DATABASE_MONITOR_URL"
DATABASE_BACKUP_URL_KEY = "TODO_DATABASE_BACKUP_URL"
POSTGRES_MONITOR_PASSWORD_KEY = "POSTGRES_MONITOR_PASSWORD"  # noqa: S105 - a key name
POSTGRES_BACKUP_PASSWORD_KEY = "POSTGRES_BACKUP_PASSWORD"  # noqa: S105 - a key name
REDIS_URL_KEY = "TODO_REDIS_URL"

# A JWT's signed input always starts with "eyJ" (a base64url JSON header), so no token the API
# signs with the same key can equal this label's MAC.
_DAPR_APP_TOKEN_LABEL = b"todo-evolution: dapr app token"
_POSTGRES_APP_PASSWORD_LABEL = b"todo-evolution: postgres app role"
_POSTGRES_MONITOR_PASSWORD_LABEL = b"todo-evolution: postgres monitoring role"
_POSTGRES_BACKUP_PASSWORD_LABEL = b"todo-evolution: postgres backup role"


SECRETS_DIR = "/var/run/secrets/todo"
"""Where a container finds its credentials, one file per key (``TODO_<KEY>_FILE``)."""


@dataclass(frozen=True)
class CredentialFiles:
    """The keys of the credentials Secret one container reads, as files, and the
    ``<KEY>_FILE`` variables that point it at them (the service's ``TODO_<NAME>_FILE``, the
    PostgreSQL image's ``POSTGRES_PASSWORD_FILE``).

    Only the keys it reads: the relay, which publishes events, never holds the key that signs
    users' tokens. Files rather than variables: the values stay out of the process environment,
    which ``/proc/<pid>/environ``, crash reports and child processes see. Group-readable only;
    the pod's ``fsGroup`` is a group every container of the pod runs with.
    """

    volume: core.VolumeArgs
    mount: core.VolumeMountArgs
    env: list[core.EnvVarArgs]


def credential_files(role: str, secret_name: str, keys: tuple[str, ...]) -> CredentialFiles:
    """The volume ``credentials-<role>`` with ``keys`` of ``secret_name``, its mount at
    :data:`SECRETS_DIR` and the ``<KEY>_FILE`` variables."""
    name = f"credentials-{role}"
    return CredentialFiles(
        volume=core.VolumeArgs(
            name=name,
            secret=core.SecretVolumeSourceArgs(
                secret_name=secret_name,
                default_mode=0o440,
                items=[core.KeyToPathArgs(key=key, path=key) for key in keys],
            ),
        ),
        mount=core.VolumeMountArgs(name=name, mount_path=SECRETS_DIR, read_only=True),
        env=[core.EnvVarArgs(name=f"{key}_FILE", value=f"{SECRETS_DIR}/{key}") for key in keys],
    )


def secret_name(instance: str) -> str:
    """The name of the credentials Secret of a platform instance."""
    return child_name(instance, "credentials")


def dapr_app_token_secret_name(instance: str) -> str:
    """The name of the Secret the Dapr injector reads the app token from."""
    return child_name(instance, "dapr-app-token")


def _derived(secret: SecretStr, label: bytes) -> str:
    """A value only ``secret``'s holder can compute, that reveals nothing of it (HMAC-SHA256)."""
    return hmac.new(secret.get_secret_value().encode(), label, hashlib.sha256).hexdigest()


def dapr_app_token(jwt_secret: SecretStr) -> str:
    """The Dapr app token of a platform whose JWT signing key is ``jwt_secret``."""
    return _derived(jwt_secret, _DAPR_APP_TOKEN_LABEL)


def postgres_app_password(postgres_password: SecretStr) -> str:
    """The app role's password of a platform whose database password is ``postgres_password``."""
    return _derived(postgres_password, _POSTGRES_APP_PASSWORD_LABEL)


def postgres_monitor_password(postgres_password: SecretStr) -> str:
    return _derived(postgres_password, _POSTGRES_MONITOR_PASSWORD_LABEL)


def postgres_backup_password(postgres_password: SecretStr) -> str:
    return _derived(postgres_password, _POSTGRES_BACKUP_PASSWORD_LABEL)


def _postgres_url(user: str, password: str, host: str, port: int, database: str) -> str:
    return (
        f"postgresql+psycopg://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
        f"{database}"
    )


class CredentialsArgs(ComponentArgs):
    """The secret values and where the servers they unlock are reached."""

    postgres_password: SecretStr
    redis_password: SecretStr
    jwt_secret: SecretStr
    postgres_host: str
    postgres_port: int
    postgres_database: str
    postgres_user: str = Field(description="The administrator: the migration's login.")
    postgres_app_user: str = Field(description="The app role: the API's and relay's login.")
    postgres_monitor_user: str = Field(description="postgres_exporter's login (pg_monitor).")
    postgres_backup_user: str = Field(description="The backup's login (pg_read_all_data).")
    redis_host: str
    redis_port: int
    redis_exporter_target: str = Field(
        description="The address redis_exporter scrapes: its password file maps it to the "
        "password (the exporter reads a JSON map of address to password, not a bare password)."
    )
    dapr_sidecars: bool = Field(
        default=False, description="Also write the app token where Dapr's injector reads it."
    )


class Credentials(pulumi.ComponentResource):
    """The Opaque Secret each workload reads the keys it uses from (``secretKeyRef``), and with Dapr
    sidecars the one their injector reads the app token from."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("todo:infra:Credentials", name, None, opts)
        postgres_password = args.postgres_password.get_secret_value()
        redis_password = args.redis_password.get_secret_value()
        where = (args.postgres_host, args.postgres_port, args.postgres_database)
        admin_url = _postgres_url(args.postgres_user, postgres_password, *where)
        database_url = _postgres_url(
            args.postgres_app_user, postgres_app_password(args.postgres_password), *where
        )
        monitor_password = postgres_monitor_password(args.postgres_password)
        backup_password = postgres_backup_password(args.postgres_password)
        monitor_url = _postgres_url(args.postgres_monitor_user, monitor_password, *where)
        backup_url = _postgres_url(args.postgres_backup_user, backup_password, *where)
        redis_url = (
            f"redis://:{quote(redis_password, safe='')}@{args.redis_host}:{args.redis_port}/0"
        )
        app_token = dapr_app_token(args.jwt_secret)
        labels = unversioned_labels("todo", args.instance, "credentials")
        secret = core.Secret(
            f"{name}-secret",
            metadata=object_meta(
                secret_name(args.instance), namespace=args.namespace, labels=labels
            ),
            type="Opaque",
            string_data=pulumi.Output.secret(
                {
                    POSTGRES_PASSWORD_KEY: postgres_password,
                    REDIS_PASSWORD_KEY: redis_password,
                    REDIS_EXPORTER_PASSWORDS_KEY: json.dumps(
                        {args.redis_exporter_target: redis_password}
                    ),
                    JWT_SECRET_KEY: args.jwt_secret.get_secret_value(),
                    DAPR_APP_TOKEN_KEY: app_token,
                    DATABASE_URL_KEY: database_url,
                    DATABASE_ADMIN_URL_KEY: admin_url,
                    DATABASE_MONITOR_URL_KEY: monitor_url,
                    DATABASE_BACKUP_URL_KEY: backup_url,
                    POSTGRES_MONITOR_PASSWORD_KEY: monitor_password,
                    POSTGRES_BACKUP_PASSWORD_KEY: backup_password,
                    REDIS_URL_KEY: redis_url,
                }
            ),
            opts=child_options(self, opts),
        )
        if args.dapr_sidecars:
            core.Secret(
                f"{name}-dapr-app-token",
                metadata=object_meta(
                    dapr_app_token_secret_name(args.instance),
                    namespace=args.namespace,
                    labels=labels,
                ),
                type="Opaque",
                string_data=pulumi.Output.secret({DAPR_INJECTOR_TOKEN_KEY: app_token}),
                opts=child_options(self, opts),
            )
        self.name = secret.metadata.name
        self.register_outputs({"name": self.name})
