"""Read-through cache of task reads and lists in Redis, per user, that never breaks an answer.

Invalidation is a per-user version number: every cached entry's key contains the version read
*before* the database read, and every write increments it. A reader that raced a writer stores
its (possibly old) answer under the old version, which nobody reads again, so a write is never
hidden by a stale entry.

When Redis fails, the shared breaker (:mod:`app.breaker`) keeps every request off it for a
window, so a dead or hanging Redis costs one timeout per window, and the caller reads the
database. Writes made meanwhile could not bump their user's version; those bumps are replayed
before the cache is read again, and until they are, nobody reads it. If this process dies first,
staleness is bounded by the entries' TTL.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis, RedisError

from app.breaker import Breaker, Gate

# Bound on remembered invalidations while Redis is away (each is a user id).
MAX_PENDING_INVALIDATIONS = 100_000

Json = dict[str, Any]


class TaskCache:
    def __init__(
        self, client: Redis | None, breaker: Breaker, *, prefix: str, ttl_seconds: int
    ) -> None:
        self._client = client
        self._breaker = breaker
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._replaying = threading.Lock()
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
            self._breaker.failed(exc)
            return load()
        if cached is not None:
            result: Json = json.loads(cached)
            return result
        value = load()
        try:
            client.set(key, json.dumps(value), ex=self._ttl)
        except RedisError as exc:
            self._breaker.failed(exc)
        return value

    def invalidate(self, user_id: uuid.UUID) -> None:
        """Called after a write commits: entries cached before it are never read again."""
        if self._client is None:
            return
        client = self._available()
        if client is None:
            self._remember(user_id)
            return
        try:
            client.incr(self._version_key(user_id))
        except RedisError as exc:
            self._breaker.failed(exc)
            self._remember(user_id)

    def ping(self) -> bool:
        client = self._client
        if client is None:
            return False
        return self._breaker.call(lambda: bool(client.ping()), lambda: False)

    def _version_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}u:{user_id}:version"

    def _available(self) -> Redis | None:
        """The client, when Redis may be read: the breaker lets us and no invalidation waits."""
        if self._client is None:
            return None
        gate = self._breaker.enter()
        if gate is Gate.OPEN:
            return None
        with self._lock:
            clean = not self._pending
        if gate is Gate.CLOSED and clean:
            return self._client
        return self._client if self._replay(self._client, probe=gate is Gate.PROBE) else None

    def _remember(self, user_id: uuid.UUID) -> None:
        with self._lock:
            if len(self._pending) < MAX_PENDING_INVALIDATIONS:
                self._pending.add(user_id)

    def _replay(self, client: Redis, *, probe: bool) -> bool:
        """Check Redis answers and apply the invalidations it missed; True when it did.

        One caller replays at a time; the others answer from the database meanwhile instead of
        waiting, since the replay may be the one call that meets a hanging Redis. The breaker's
        probe replays even then: a version bumped twice is only one more invalidation.
        """
        locked = self._replaying.acquire(blocking=False)
        if not locked and not probe:
            return False
        try:
            with self._lock:
                pending = set(self._pending)
            try:
                with client.pipeline(transaction=False) as pipe:
                    pipe.ping()
                    for user_id in pending:
                        pipe.incr(self._version_key(user_id))
                    pipe.execute()
            except RedisError as exc:
                self._breaker.failed(exc, probe=probe)
                return False
            with self._lock:
                self._pending -= pending
            if probe:
                self._breaker.succeeded()
            return True
        finally:
            if locked:
                self._replaying.release()
