"""Service settings: environment variables with the ``TODO_`` prefix, validated once.

With nothing set the service runs on its embedded default: SQLite in the working directory, no
cache, no broker (``serve`` applies its events to the stats itself). Only that default may run
without a signing key (it generates one and says so loudly); anywhere else a placeholder secret
is an error, because tokens signed with a guessable key are forgeable, and ``serve`` refuses to
start without one (:attr:`Settings.signing_key`). The workers (``migrate``, ``relay``,
``consume``) sign nothing, so they run without the key: a deployment need not hand it to them.

Each secret setting may instead come from a file: ``TODO_<NAME>_FILE`` names it (a mounted
Kubernetes Secret key, a Docker secret), so the value never sits in the process environment,
which ``/proc/<pid>/environ``, crash reports and child processes expose. Setting both the
variable and its ``_FILE`` is an error, not a silent choice.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

EMBEDDED_DATABASE_URL = "sqlite:///./todo.db"
MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "development", "dev", "todo"})

ENV_PREFIX = "TODO_"
SECRET_FILE_SETTINGS: tuple[str, ...] = (
    "database_url",
    "database_admin_url",
    "database_monitor_url",
    "database_backup_url",
    "redis_url",
    "jwt_secret",
    "dapr_app_token",
)
"""The settings that may be read from ``TODO_<NAME>_FILE``: those that hold a credential."""

log = logging.getLogger(__name__)


class SecretFiles(PydanticBaseSettingsSource):
    """``TODO_<NAME>_FILE``: the setting's value is the named file's content, without the line
    break an editor or ``echo`` leaves at its end."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{ENV_PREFIX}{field_name.upper()}"
        path = os.environ.get(f"{variable}_FILE")
        if field_name not in SECRET_FILE_SETTINGS or not path:
            return None, field_name, False
        if variable in os.environ:
            raise ValueError(f"set {variable} or {variable}_FILE, not both")
        try:
            return Path(path).read_text().rstrip("\r\n"), field_name, False
        except OSError as exc:
            raise ValueError(f"{variable}_FILE={path!r} cannot be read: {exc.strerror}") from None

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class Settings(BaseSettings):
    """Every knob of the service; defaults are the embedded local run."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then ``TODO_<NAME>_FILE`` for the secret settings."""
        return (
            init_settings,
            env_settings,
            SecretFiles(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    database_url: str = Field(
        EMBEDDED_DATABASE_URL,
        description="SQLAlchemy URL. Default: SQLite file in the working directory.",
    )
    database_admin_url: str | None = Field(
        None,
        description="PostgreSQL only, read by `migrate` alone: an administrator (the server's "
        "owner, or a CREATEROLE role owning the database) that creates the migration role and "
        "the app role (the user of TODO_DATABASE_URL) and runs the migrations as the former "
        "(app/db_roles.py). Unset: `migrate` runs as TODO_DATABASE_URL's user and makes no role.",
    )
    database_monitor_url: str | None = Field(
        None,
        description="PostgreSQL only, with TODO_DATABASE_ADMIN_URL: `migrate` makes its user a "
        "login role in pg_monitor, for postgres_exporter, with its password. Unset: no such role.",
    )
    database_backup_url: str | None = Field(
        None,
        description="PostgreSQL only: `migrate` (with TODO_DATABASE_ADMIN_URL) makes its user a "
        "login role in pg_read_all_data, and `backup` dumps its database as it (no other URL "
        "needed). Unset: `backup` logs in as TODO_DATABASE_ADMIN_URL's user, else "
        "TODO_DATABASE_URL's.",
    )
    database_migration_role: str = Field(
        "todo_migrator",
        description="The role, without login, that owns the schema; with TODO_DATABASE_ADMIN_URL.",
    )
    database_connect_timeout_seconds: int = Field(
        3, ge=1, le=60, description="Connect timeout; short so an absent database answers 503."
    )
    pg_bindir: str | None = Field(
        None,
        description="Folder of pg_dump and pg_restore for `backup` and `restore`. Unset: "
        "/usr/lib/postgresql/<the server's major version>/bin, then PATH (app/pg_tools.py).",
    )
    migrate_on_start: bool = Field(
        True,
        description="Bring the database schema up to date as each command starts; false makes a "
        "command refuse to start on a schema that is behind (migrations run elsewhere).",
    )
    redis_url: str | None = Field(None, description="Cache; unset means no cache.")
    redis_key_prefix: str = Field("todo:", description="Namespace for every cache key.")
    redis_timeout_seconds: float = Field(
        0.25, gt=0, le=10, description="Socket timeout; short so a dead cache costs little."
    )
    cache_ttl_seconds: int = Field(
        60, ge=1, le=86_400, description="Upper bound on staleness if an invalidation is missed."
    )
    kafka_bootstrap_servers: str | None = Field(
        None, description="Kafka brokers; unset means `serve` applies events in-process."
    )
    kafka_topic_prefix: str = Field(
        "", description="Prepended to every topic name, for brokers shared by several stacks."
    )
    kafka_consumer_group: str = Field("todo-stats", description="Group of `todo-api consume`.")
    kafka_message_timeout_ms: int = Field(
        30_000,
        ge=1_000,
        le=600_000,
        description="How long the relay's producer tries one delivery before reporting failure.",
    )
    relay_in_process: bool = Field(
        False,
        description="Run the Kafka relay inside `serve` (local runs). With no broker configured "
        "`serve` always drains the outbox itself, into its own stats handler.",
    )
    relay_batch_size: int = Field(
        5_000, ge=1, le=100_000, description="Outbox rows claimed, produced and marked per batch."
    )
    relay_idle_seconds: float = Field(
        0.2,
        gt=0,
        le=60,
        description="Longest pause between polls of an empty outbox; while events flow the "
        "relay polls every 10 ms, and it doubles the pause up to this once they stop.",
    )
    relay_max_backoff_seconds: float = Field(
        30.0, gt=0, le=600, description="Cap of the exponential backoff while the broker is away."
    )
    outbox_retention_hours: int = Field(
        168,
        ge=1,
        le=87_600,
        description="Published outbox rows older than this are deleted (by the process that runs "
        "the relay); unpublished rows are kept however old.",
    )
    processed_event_retention_hours: int = Field(
        336,
        ge=1,
        le=87_600,
        description="Applied event ids older than this are deleted. Keep them longer than the "
        "topics keep events (the stack checks it): a replayed event whose id is gone counts twice.",
    )
    prune_interval_seconds: float = Field(
        300, ge=1, le=86_400, description="Pause between two pruning passes of the relay."
    )
    prune_batch_size: int = Field(
        1_000,
        ge=1,
        le=100_000,
        description="Rows deleted per statement (one short transaction each) while pruning.",
    )
    event_source: str = Field("/todo-api", description="CloudEvents `source` of our events.")
    dapr_pubsub_name: str = Field("pubsub", description="Dapr pub/sub component we subscribe to.")
    dapr_app_token: SecretStr | None = Field(
        None,
        description="If set, event deliveries must carry it in `dapr-api-token` (Dapr's "
        "APP_API_TOKEN), so only the sidecar can post events.",
    )
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 signing key; generated only for the embedded SQLite default."
    )
    jwt_ttl_minutes: int = Field(60, ge=1, le=10_080, description="Lifetime of issued tokens.")
    login_free_failures: int = Field(
        5,
        ge=1,
        le=10_000,
        description="Failed logins per username and client before each further attempt waits "
        "(TODO_LOGIN_BACKOFF_SECONDS, doubling). The owner on another client is not slowed.",
    )
    login_free_failures_per_client: int = Field(
        50,
        ge=1,
        le=100_000,
        description="Failed logins per client across all usernames before each further attempt "
        "from it waits; higher than per username, since many users may share one address (NAT).",
    )
    login_backoff_seconds: float = Field(
        1.0,
        gt=0,
        le=3_600,
        description="The first wait after the free failures; each further failure doubles it.",
    )
    login_backoff_max_seconds: int = Field(
        900, ge=1, le=86_400, description="The longest wait between two login attempts."
    )
    login_window_seconds: int = Field(
        3_600,
        ge=1,
        le=604_800,
        description="Failed logins are forgotten this long after the last one; at least "
        "TODO_LOGIN_BACKOFF_MAX_SECONDS, or the wait could never reach its cap.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted for the client IP (comma-separated "
        "or `*`). Behind an ingress set it to the ingress' addresses (or `*` if only the ingress "
        "can reach the pods), or every client shares the ingress' IP and its login throttling.",
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1_024,
        le=1_073_741_824,
        description="Largest request body accepted; a larger one answers 413 (counted while it "
        "streams in, never buffered whole).",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65_535,
        description="`relay` and `consume` serve /metrics on this port when set (`serve` always "
        "serves it on its own port).",
    )
    tracing_enabled: bool = Field(
        False,
        description="Export OpenTelemetry traces over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` "
        "(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), sampled as `OTEL_TRACES_SAMPLER` says, named "
        "`OTEL_SERVICE_NAME`; off, no tracer provider or instrumentation is installed at all.",
    )
    password_hash_memory_kib: int = Field(
        65_536, ge=8_192, le=1_048_576, description="Argon2id memory cost (RFC 9106 default)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        """Accept `info` as well as `INFO`: both spellings are common in manifests."""
        return value.upper() if isinstance(value, str) else value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def relay_runs_in_serve(self) -> bool:
        """With no broker, nothing but ``serve`` would ever drain the outbox."""
        return self.relay_in_process or not self.kafka_bootstrap_servers

    @model_validator(mode="after")
    def _admin_on_postgres(self) -> Settings:
        if self.database_admin_url is not None and (
            self.is_sqlite or self.database_admin_url.startswith("sqlite")
        ):
            raise ValueError(
                "TODO_DATABASE_ADMIN_URL is for PostgreSQL roles: set it only with a PostgreSQL "
                "TODO_DATABASE_URL, and to a PostgreSQL URL"
            )
        # The backup Job holds only its own URL (no TODO_DATABASE_URL): each must be PostgreSQL.
        for name, url in (
            ("TODO_DATABASE_MONITOR_URL", self.database_monitor_url),
            ("TODO_DATABASE_BACKUP_URL", self.database_backup_url),
        ):
            if url is not None and url.startswith("sqlite"):
                raise ValueError(f"{name} is for a PostgreSQL role: set it to a PostgreSQL URL")
        return self

    @model_validator(mode="after")
    def _login_window(self) -> Settings:
        if self.login_window_seconds < self.login_backoff_max_seconds:
            raise ValueError(
                f"TODO_LOGIN_WINDOW_SECONDS ({self.login_window_seconds}) must be at least "
                f"TODO_LOGIN_BACKOFF_MAX_SECONDS ({self.login_backoff_max_seconds}): failures "
                "forgotten before the longest wait ends would stop the backoff short of it"
            )
        return self

    @model_validator(mode="after")
    def _signing_key(self) -> Settings:
        if self.jwt_secret is None:
            if not self.is_sqlite:
                return self
            log.warning(
                "TODO_JWT_SECRET is not set: generated a random DEVELOPMENT signing key. "
                "Tokens stop working when this process exits. Never run like this in production."
            )
            self.jwt_secret = SecretStr(secrets.token_urlsafe(48))
        elif not self.is_sqlite:
            value = self.jwt_secret.get_secret_value()
            if len(value) < MIN_SECRET_LENGTH or value.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"TODO_JWT_SECRET must be at least {MIN_SECRET_LENGTH} random characters "
                    f"(got {len(value)} characters)"
                )
        return self

    @property
    def signing_key(self) -> str:
        """The JWT key; asked for only by what signs or checks tokens (the API)."""
        if self.jwt_secret is None:
            raise ValueError(
                "TODO_JWT_SECRET is required when TODO_DATABASE_URL is not SQLite "
                "(only the embedded default may generate a development key)"
            )
        return self.jwt_secret.get_secret_value()


def setting_errors(error: ValidationError) -> list[str]:
    """One line per problem, naming the variable (``TODO_RELAY_BATCH_SIZE``), not the field.

    A credential's value is never repeated: the error would print it.
    """
    lines: list[str] = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:
            lines.append(message)
            continue
        field = str(problem["loc"][0])
        variable = f"{ENV_PREFIX}{field.upper()}"
        if field in SECRET_FILE_SETTINGS or problem["type"] == "missing":
            lines.append(f"{variable}: {message}")
        else:
            lines.append(f"{variable}: {message} (got {problem['input']!r})")
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
