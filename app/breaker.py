"""A circuit breaker for a dependency the service can answer without (Redis).

A dead dependency must cost one timeout per window, not one per request: after a failure the
breaker opens, and every caller stays away until the window ends. Then exactly one caller (the
probe) tries the dependency while the others keep staying away, so a dependency that still hangs
holds up one request per window, never a crowd of them.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Gate(enum.Enum):
    """What a caller may do now."""

    CLOSED = "closed"  # the dependency works: use it
    PROBE = "probe"  # this caller tries it, then reports succeeded() or failed()
    OPEN = "open"  # stay away and answer without it


class Breaker:
    def __init__(
        self,
        name: str,
        retry_after_seconds: float,
        errors: tuple[type[Exception], ...],
        *,
        on_error: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if retry_after_seconds <= 0:
            raise ValueError(f"retry_after_seconds must be positive, got {retry_after_seconds}")
        self.name = name
        self.errors = errors
        self._retry_after = retry_after_seconds
        self._on_error = on_error
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None
        self._probing = False

    def enter(self) -> Gate:
        with self._lock:
            if self._open_until is None:
                return Gate.CLOSED
            if self._probing or self._clock() < self._open_until:
                return Gate.OPEN
            self._probing = True
            return Gate.PROBE

    def succeeded(self) -> None:
        """The probe reached the dependency: close the breaker."""
        with self._lock:
            was_open, self._open_until, self._probing = self._open_until is not None, None, False
        if was_open:
            log.info("%s answers again", self.name)

    def failed(self, exc: Exception, *, probe: bool = False) -> None:
        """A call failed: stay away for a window (logged once per outage, counted every time).

        ``probe``: the failed call was the probe's, so the next window's probe may go.
        """
        self._on_error()
        with self._lock:
            opened = self._open_until is None
            self._open_until = self._clock() + self._retry_after
            if probe:
                self._probing = False
        if opened:
            log.warning("%s unavailable, answering without it: %s", self.name, exc)

    def call(self, action: Callable[[], T], fallback: Callable[[], T]) -> T:
        """``action()`` when the dependency may be used and works, else ``fallback()``."""
        gate = self.enter()
        if gate is Gate.OPEN:
            return fallback()
        try:
            result = action()
        except self.errors as exc:
            self.failed(exc, probe=gate is Gate.PROBE)
            return fallback()
        if gate is Gate.PROBE:
            self.succeeded()
        return result
