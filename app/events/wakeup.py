"""The relay's wake-up call: LISTEN for the notification the outbox trigger sends at commit.

Polling alone finds a committed event only at the next poll, and a poll is a batch's worth of
round trips, so it cannot run very often. Listening, the relay starts a batch as soon as a
write commits (PostgreSQL; migration 0002 adds the trigger). The poll stays as the fallback:
a lost connection or notification costs at most one poll interval, never an event.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "todo_outbox"
# How often a wait looks at the stop flag, so SIGTERM is honoured within this.
STOP_CHECK_SECONDS = 0.1
# After the listening connection failed, how long to poll only before connecting again.
RECONNECT_SECONDS = 5.0


class OutboxWakeup:
    """One autocommit connection that LISTENs on ``CHANNEL``; opened lazily, reopened later."""

    def __init__(self, conninfo: str, *, connect_timeout: int) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._connection: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Return at the first notification, when ``stop`` is set, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        connection = self._listening()
        if connection is None:
            stop.wait(timeout)
            return
        try:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                # One read returns every notification already queued; a batch serves them all.
                if any(
                    True
                    for _ in connection.notifies(
                        timeout=min(remaining, STOP_CHECK_SECONDS), stop_after=1
                    )
                ):
                    return
        except psycopg.Error as exc:
            self._lost(exc)
            stop.wait(max(deadline - time.monotonic(), 0.0))

    def drain(self) -> int:
        """Read, without waiting, what arrived while the relay did not listen (it polls while
        events flow); how many. Unread, the notifications would fill the connection's buffer
        and then PostgreSQL's notification queue, which every listener must read to shrink."""
        if self._connection is None:
            return 0
        try:
            return sum(1 for _ in self._connection.notifies(timeout=0))
        except psycopg.Error as exc:
            self._lost(exc)
            return 0

    def _lost(self, exc: psycopg.Error) -> None:
        log.warning("outbox wake-up lost, polling only for %.0fs: %s", RECONNECT_SECONDS, exc)
        self.close()
        self._retry_at = time.monotonic() + RECONNECT_SECONDS

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _listening(self) -> psycopg.Connection[Any] | None:
        if self._connection is not None:
            return self._connection
        if time.monotonic() < self._retry_at:
            return None
        try:
            connection = psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
            )
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning(
                "outbox wake-up unavailable, polling only for %.0fs: %s", RECONNECT_SECONDS, exc
            )
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            return None
        self._connection = connection
        return connection
