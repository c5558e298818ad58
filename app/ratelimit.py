"""Login throttling: failed logins slow the next attempt, per username and client, with backoff.

Nothing is ever locked. A pair (username, client) may fail ``free_failures`` times; after that
each attempt must wait, and each further failure doubles the wait, up to a cap. An attacker
guessing one account's password from one client gets ever fewer guesses, while the owner, on
another client, signs in as usual: failures are counted per pair, never per username alone.
(Counting per username would hand anyone a way to lock any account.) A second, higher count
per client across every username slows one client spraying many usernames; it is higher since
many users may share one address (NAT). A success forgets its pair's failures, not its
client's: owning one account must not reset a spray.

Counters live in Redis when there is one, so every replica sees the same count; without Redis,
or while the shared breaker keeps callers off it, each process counts alone (weaker, but logins
keep working, and a dead Redis costs a login no more than it costs a read). Times come from the
injected clock, wall time by default, since replicas compare what others wrote.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from redis import Redis

from app.breaker import Breaker

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How long a key waits after its failures; free failures first, then doubling waits."""

    free_failures: int
    first_seconds: float
    max_seconds: float

    def wait(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        doublings = min(failures - self.free_failures, 64)  # 2**64 s is past any cap
        return float(min(self.first_seconds * 2**doublings, self.max_seconds))


@dataclass(frozen=True)
class Failures:
    count: int
    last: float


class FailureStore(Protocol):
    def read(self, key: str, now: float) -> Failures | None: ...
    def add(self, key: str, now: float) -> None: ...
    def forget(self, key: str) -> None: ...


class LocalFailures:
    """This process's counts, forgotten ``window`` seconds after their last failure.

    Kept in last-failure order, so expired keys are dropped from the front in O(1) each and the
    map holds only the keys that failed within one window.
    """

    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Failures] = OrderedDict()

    def read(self, key: str, now: float) -> Failures | None:
        with self._lock:
            self._expire(now)
            return self._entries.get(key)

    def add(self, key: str, now: float) -> None:
        with self._lock:
            self._expire(now)
            previous = self._entries.pop(key, None)
            self._entries[key] = Failures((previous.count if previous else 0) + 1, now)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _expire(self, now: float) -> None:
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if now - oldest.last < self._window:
                return
            del self._entries[key]


# One round trip, atomic: a count whose last failure is a window old starts again from one.
_ADD_FAILURE = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if last and tonumber(ARGV[1]) - last >= tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1])
end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""


class SharedFailures:
    """The same counts in Redis, one hash per key. Age is judged by the clock's ``now``, like
    the in-process counts; Redis' expiry only collects the keys nobody asks about again."""

    def __init__(self, client: Redis, window_seconds: int) -> None:
        self._client = client
        self._window = window_seconds
        self._add = client.register_script(_ADD_FAILURE)

    def read(self, key: str, now: float) -> Failures | None:
        count, last = self._client.hmget(key, ["count", "last"])
        if count is None or last is None or now - float(last) >= self._window:
            return None
        return Failures(int(count), float(last))

    def add(self, key: str, now: float) -> None:
        self._add(keys=[key], args=[repr(now), self._window])

    def forget(self, key: str) -> None:
        self._client.delete(key)


class LoginThrottle:
    def __init__(
        self,
        client: Redis | None,
        breaker: Breaker,
        *,
        prefix: str,
        per_pair: Backoff,
        per_client: Backoff,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._shared = SharedFailures(client, window_seconds) if client is not None else None
        self._local = LocalFailures(window_seconds)
        self._breaker = breaker
        self._prefix = prefix
        self._policies = (per_pair, per_client)
        self._clock = clock

    def retry_after(self, username: str, client: str) -> int | None:
        """Whole seconds until ``username`` may be tried from ``client``; None: it may now."""
        now = self._clock()
        until = max(
            (
                failures.last + policy.wait(failures.count)
                for key, policy in zip(self._keys(username, client), self._policies, strict=True)
                if (failures := self._read(key, now)) is not None
            ),
            default=now,
        )
        return math.ceil(until - now) if until > now else None

    def failed(self, username: str, client: str) -> None:
        now = self._clock()
        for key in self._keys(username, client):
            self._add(key, now)

    def succeeded(self, username: str, client: str) -> None:
        """The owner is in: this pair's failures are forgotten; the client's count stays."""
        pair, _ = self._keys(username, client)
        self._use(lambda store: store.forget(pair))

    def _keys(self, username: str, client: str) -> tuple[str, str]:
        # Hashed: a username is the client's text, of any length and with any separator in it.
        user = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
        address = hashlib.sha256(client.encode()).hexdigest()[:32]
        return (
            f"{self._prefix}login:pair:{user}:{address}",
            f"{self._prefix}login:client:{address}",
        )

    def _read(self, key: str, now: float) -> Failures | None:
        return self._use(lambda store: store.read(key, now))

    def _add(self, key: str, now: float) -> None:
        self._use(lambda store: store.add(key, now))

    def _use(self, action: Callable[[FailureStore], T]) -> T:
        """``action`` on Redis, or on this process's counts without it."""
        shared = self._shared
        if shared is None:
            return action(self._local)
        return self._breaker.call(lambda: action(shared), lambda: action(self._local))
