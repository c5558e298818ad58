"""Every client and collaborator of one process, wired in one place.

Nothing here runs at import: ``Runtime.open`` is called by the FastAPI lifespan (``serve``) or
by the ``relay``/``consume`` commands, and ``close`` releases what it opened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import migrate
from app.breaker import Breaker
from app.cache import TaskCache
from app.core.config import Settings
from app.core.security import Passwords, Tokens
from app.db import make_engine, make_sessions
from app.events import outbox
from app.events.handler import StatsHandler
from app.events.local import LocalPublisher
from app.events.pruning import Pruner
from app.events.relay import KafkaPublisher, Publisher, Relay
from app.events.wakeup import OutboxWakeup
from app.metrics import Metrics
from app.ratelimit import Backoff, LoginThrottle
from app.tracing import Tracing

log = logging.getLogger(__name__)

# How long every caller leaves Redis alone after a failure (app.breaker).
REDIS_RETRY_AFTER_SECONDS = 2.0


def _redis_client(url: str | None, timeout_seconds: float) -> Redis | None:
    """A client whose every call costs at most one timeout.

    redis-py's default retries a failed call ten times with backoff, which turned one Redis
    outage into seconds-long requests. A call here is tried once more only after a connection
    error, at once: that is a pooled connection the server closed (a Redis restart), and a fresh
    one answers. A timeout is never retried: the breaker, not the client, decides when to try
    a Redis that hangs again.
    """
    if not url:
        return None
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


@dataclass
class Runtime:
    settings: Settings
    metrics: Metrics
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis | None
    cache: TaskCache
    login_throttle: LoginThrottle
    passwords: Passwords
    handler: StatsHandler
    tracing: Tracing

    @classmethod
    def open(
        cls,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        tracing: Tracing | None = None,
    ) -> Runtime:
        """``clock``: wall time in seconds, for what counts time across replicas (login
        throttling); tests pass their own. ``tracing``: off when not given."""
        tracing = tracing or Tracing()
        engine = make_engine(settings)
        tracing.instrument_engine(engine)
        try:
            migrate.bring_up_to_date(engine, allowed=settings.migrate_on_start)
        except BaseException:
            engine.dispose()
            raise
        sessions = make_sessions(engine)
        redis = _redis_client(settings.redis_url, settings.redis_timeout_seconds)
        redis_breaker = Breaker(
            "redis", REDIS_RETRY_AFTER_SECONDS, (RedisError,), on_error=metrics.cache_errors.inc
        )
        return cls(
            settings=settings,
            metrics=metrics,
            engine=engine,
            sessions=sessions,
            redis=redis,
            cache=TaskCache(
                redis,
                redis_breaker,
                prefix=settings.redis_key_prefix,
                ttl_seconds=settings.cache_ttl_seconds,
            ),
            login_throttle=LoginThrottle(
                redis,
                redis_breaker,
                prefix=settings.redis_key_prefix,
                per_pair=Backoff(
                    settings.login_free_failures,
                    settings.login_backoff_seconds,
                    settings.login_backoff_max_seconds,
                ),
                per_client=Backoff(
                    settings.login_free_failures_per_client,
                    settings.login_backoff_seconds,
                    settings.login_backoff_max_seconds,
                ),
                window_seconds=settings.login_window_seconds,
                clock=clock,
            ),
            passwords=Passwords.create(settings.password_hash_memory_kib),
            handler=StatsHandler(sessions, metrics),
            tracing=tracing,
        )

    @cached_property
    def tokens(self) -> Tokens:
        """Made on first use, so the workers, which sign nothing, run without a JWT key."""
        return Tokens(self.settings.signing_key, timedelta(minutes=self.settings.jwt_ttl_minutes))

    def relay(self) -> Relay:
        """A relay to Kafka, or, with no broker configured, to this process's stats handler."""
        publisher: Publisher
        if self.settings.kafka_bootstrap_servers:
            publisher = KafkaPublisher(
                self.settings.kafka_bootstrap_servers,
                topic_prefix=self.settings.kafka_topic_prefix,
                message_timeout_ms=self.settings.kafka_message_timeout_ms,
                tracer=self.tracing.tracer,
            )
        else:
            log.info("TODO_KAFKA_BOOTSTRAP_SERVERS is not set: events are applied in-process")
            publisher = LocalPublisher(self.handler)
        return Relay(
            self.sessions,
            publisher,
            self.metrics,
            batch_size=self.settings.relay_batch_size,
            idle_seconds=self.settings.relay_idle_seconds,
            max_backoff_seconds=self.settings.relay_max_backoff_seconds,
            wakeup=None if self.settings.is_sqlite else self._wakeup(),
        )

    def pruner(self) -> Pruner:
        """Retention of published outbox rows and applied event ids; run where the relay runs."""
        return Pruner(
            self.sessions,
            self.metrics,
            outbox_retention=timedelta(hours=self.settings.outbox_retention_hours),
            processed_retention=timedelta(hours=self.settings.processed_event_retention_hours),
            batch_size=self.settings.prune_batch_size,
            interval_seconds=self.settings.prune_interval_seconds,
        )

    def _wakeup(self) -> OutboxWakeup:
        """The relay's LISTEN connection, to the same database as the engine (PostgreSQL)."""
        conninfo = self.engine.url.set(drivername="postgresql")
        return OutboxWakeup(
            conninfo.render_as_string(hide_password=False),
            connect_timeout=self.settings.database_connect_timeout_seconds,
        )

    def backlog(self) -> outbox.Backlog:
        """Unpublished outbox rows and the oldest one's time (for the backlog gauges)."""
        with self.sessions() as session:
            return outbox.backlog(session)

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
        self.engine.dispose()
        self.tracing.shutdown()
