"""Read-through cache of task reads and lists in Redis, per user, that never breaks an answer.

Invalidation is a per-user version number: every cached entry's key contains the version read
*before* the database read, and every write increments it. A reader that raced a writer stores
its (possibly old) answer under the old version, which nobody reads again, so a write is never
hidden by a stale entry.

When Redis fails, the cache says so once in the log, stays out of the way for a few seconds
(so a dead Redis costs one timeout, not one per request) and the caller reads the database.
Writes made meanwhile could not bump their user's version; those bumps are retried when Redis
answers again. If this process dies first, staleness is bounded by the entries' TTL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis, RedisError

log = logging.getLogger(__name__)

# How long to leave Redis alone after a failure.
RETRY_AFTER_SECONDS = 2.0
# Bound on remembered invalidations while Redis is away (each is a user id).
MAX_PENDING_INVALIDATIONS = 100_000

Json = dict[str, Any]


class TaskCache:
    def __init__(
        self,
        client: Redis | None,
        *,
        prefix: str,
        ttl_seconds: int,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._on_error = on_error
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._pending: set[uuid.UUID] = set()

    def read(self, user_id: uuid.UUID, entry: str, load: Callable[[], Json]) -> Json:
        """The cached answer for ``entry`` of this user, else ``load()`` (cached afterwards)."""
        client = self._available()
        if client is None:
            return load()
        try:
            version = int(client.get(self._version_key(user_id)) or 0)
            key = f"{self._prefix}u:{user_id}:v{version}:{entry}"
            cached = client.get(key)
        except RedisError as exc:
            self._failed(exc)
            return load()
        if cached is not None:
            result: Json = json.loads(cached)
            return result
        value = load()
        try:
            client.set(key, json.dumps(value), ex=self._ttl)
        except RedisError as exc:
            self._failed(exc)
        return value

    def invalidate(self, user_id: uuid.UUID) -> None:
        """Called after a write commits: entries cached before it are never read again."""
        client = self._available()
        if client is None:
            if self._client is not None:
                self._remember(user_id)
            return
        try:
            client.incr(self._version_key(user_id))
        except RedisError as exc:
            self._failed(exc)
            self._remember(user_id)

    def ping(self) -> bool:
        client = self._available()
        if client is None:
            return False
        try:
            return bool(client.ping())
        except RedisError as exc:
            self._failed(exc)
            return False

    def _version_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}u:{user_id}:version"

    def _available(self) -> Redis | None:
        if self._client is None or time.monotonic() < self._down_until:
            return None
        return self._client if self._recover(self._client) else None

    def _failed(self, exc: RedisError) -> None:
        self._on_error()
        with self._lock:
            first = self._down_until == 0.0
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
        if first:
            log.warning("redis unavailable, answering from the database: %s", exc)

    def _remember(self, user_id: uuid.UUID) -> None:
        with self._lock:
            if len(self._pending) < MAX_PENDING_INVALIDATIONS:
                self._pending.add(user_id)

    def _recover(self, client: Redis) -> bool:
        """After an outage: check Redis answers and replay the invalidations it missed."""
        with self._lock:
            pending, self._pending = self._pending, set()
            was_down = self._down_until != 0.0
        if not was_down and not pending:
            return True
        try:
            with client.pipeline(transaction=False) as pipe:
                pipe.ping()
                for user_id in pending:
                    pipe.incr(self._version_key(user_id))
                pipe.execute()
        except RedisError as exc:
            with self._lock:
                self._pending |= pending
            self._failed(exc)
            return False
        with self._lock:
            self._down_until = 0.0
        log.info("redis answers again; replayed %d invalidations", len(pending))
        return True
