"""Login throttling: failed attempts per username and per client IP, in fixed windows.

Counters live in Redis when there is one, so every replica sees the same count; without Redis,
or while the shared breaker keeps callers off it, each process counts alone (weaker, but logins
keep working, and a dead Redis costs a login no more than it costs a read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from redis import Redis

from app.breaker import Breaker


class LoginLimiter:
    def __init__(
        self,
        client: Redis | None,
        breaker: Breaker,
        *,
        prefix: str,
        max_failures: int,
        max_failures_per_ip: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._breaker = breaker
        self._prefix = prefix
        self._limits = (max_failures, max_failures_per_ip)
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._local: dict[str, int] = {}

    def retry_after(self, username: str, ip: str) -> int | None:
        """Seconds until another attempt is allowed, or None if one is allowed now."""
        keys = self._keys(username, ip)
        if all(self._count(key) < limit for key, limit in zip(keys, self._limits, strict=True)):
            return None
        return self._window - int(self._clock()) % self._window

    def failed(self, username: str, ip: str) -> None:
        for key in self._keys(username, ip):
            self._increment(key)

    def _keys(self, username: str, ip: str) -> tuple[str, str]:
        window = int(self._clock()) // self._window
        return (
            f"{self._prefix}login:user:{username.lower()}:{window}",
            f"{self._prefix}login:ip:{ip}:{window}",
        )

    def _count(self, key: str) -> int:
        client = self._client
        if client is None:
            return self._local_count(key)

        def shared() -> int:
            value = client.get(key)
            return int(value) if value is not None else 0

        return self._breaker.call(shared, lambda: self._local_count(key))

    def _local_count(self, key: str) -> int:
        with self._lock:
            return self._local.get(key, 0)

    def _increment(self, key: str) -> None:
        client = self._client
        if client is None:
            self._local_increment(key)
            return

        def shared() -> None:
            with client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self._window)
                pipe.execute()

        self._breaker.call(shared, lambda: self._local_increment(key))

    def _local_increment(self, key: str) -> None:
        with self._lock:
            window = key.rsplit(":", 1)[1]
            # Drop counters of past windows so the in-process map cannot grow without bound.
            self._local = {k: v for k, v in self._local.items() if k.endswith(f":{window}")}
            self._local[key] = self._local.get(key, 0) + 1
