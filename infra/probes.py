"""Probe factories, one per protocol.

Liveness and readiness ask different questions. Readiness ("may I get traffic?") fails fast and
often, so a pod whose database is away stops getting requests. Liveness ("is this process
wedged?") is slow to fail, so a busy or briefly disconnected pod is not killed and restarted into
the same trouble. Startup probes cover slow starts, so liveness need not be loosened for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes.core.v1 as core


@dataclass(frozen=True)
class Check:
    """What a probe does: exactly one of an HTTP GET, a TCP connect or a command."""

    http_get: core.HTTPGetActionArgs | None = None
    tcp_socket: core.TCPSocketActionArgs | None = None
    exec_: core.ExecActionArgs | None = None

    def probe(self, *, period: int, timeout: int, failures: int) -> core.ProbeArgs:
        return core.ProbeArgs(
            http_get=self.http_get,
            tcp_socket=self.tcp_socket,
            exec_=self.exec_,
            period_seconds=period,
            timeout_seconds=timeout,
            failure_threshold=failures,
        )


@dataclass(frozen=True)
class Probes:
    """The probes of one long-running container."""

    liveness: core.ProbeArgs
    readiness: core.ProbeArgs
    startup: core.ProbeArgs | None = None


def probes(
    *,
    liveness: Check,
    readiness: Check,
    startup_seconds: int = 0,
    readiness_period: int = 10,
    readiness_timeout: int = 3,
) -> Probes:
    """Liveness tolerates two minutes of trouble; readiness reacts within thirty seconds.

    ``startup_seconds`` > 0 adds a startup probe that allows that long for the first start.
    A readiness check that starts a process (a JVM) asks for a longer ``readiness_period``
    and ``readiness_timeout``, so its CPU cost stays a small part of the container's request.
    """
    return Probes(
        liveness=liveness.probe(period=20, timeout=5, failures=6),
        readiness=readiness.probe(period=readiness_period, timeout=readiness_timeout, failures=3),
        startup=(
            liveness.probe(period=5, timeout=3, failures=max(1, startup_seconds // 5))
            if startup_seconds > 0
            else None
        ),
    )


def http_probes(
    *, port: int | str, liveness_path: str, readiness_path: str, startup_seconds: int = 0
) -> Probes:
    """Probes for an HTTP server with separate liveness and readiness endpoints."""
    return probes(
        liveness=Check(http_get=core.HTTPGetActionArgs(path=liveness_path, port=port)),
        readiness=Check(http_get=core.HTTPGetActionArgs(path=readiness_path, port=port)),
        startup_seconds=startup_seconds,
    )


def tcp_probes(*, port: int | str, startup_seconds: int = 0) -> Probes:
    """Probes for a server whose only cheap health signal is an accepted connection."""
    check = Check(tcp_socket=core.TCPSocketActionArgs(port=port))
    return probes(liveness=check, readiness=check, startup_seconds=startup_seconds)


def exec_probes(*, liveness: list[str], readiness: list[str], startup_seconds: int = 0) -> Probes:
    """Probes that run a command, for servers that need a protocol-level answer (a query, PING)."""
    return probes(
        liveness=Check(exec_=core.ExecActionArgs(command=liveness)),
        readiness=Check(exec_=core.ExecActionArgs(command=readiness)),
        startup_seconds=startup_seconds,
    )
