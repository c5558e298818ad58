"""Where the local control plane keeps its state and which loopback ports it uses.

Defaults stay clear of the development services (25432, 26379, 29092) and of Linux's ephemeral
port range (32768-60999), so an outgoing connection never takes a port the cluster needs. Each
can be moved by an environment variable, so two clusters (a user's and a test's) can coexist.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from stacks.local.errors import LocalClusterError

STATE_DIR_ENV = "TODO_LOCAL_CLUSTER_DIR"
API_PORT_ENV = "TODO_LOCAL_CLUSTER_API_PORT"
ETCD_PORT_ENV = "TODO_LOCAL_CLUSTER_ETCD_PORT"
DEFAULT_API_PORT = 26443
# etcd's peer port is the client port plus one.
DEFAULT_ETCD_PORT = 22379
DAPR_PORT_OFFSETS = {
    "sentry": 3,
    "sentry-healthz": 4,
    "operator": 5,
    "operator-healthz": 6,
    "operator-webhook": 7,
    "injector": 8,
    "injector-healthz": 9,
}
"""Dapr's control plane listens on the API server's port plus these (26446-26452 by default), so
moving the API port moves them too and a private cluster's ten ports stay together."""
PORTS_PER_CLUSTER = 10
PRIVATE_PORTS = range(27100, 27900, PORTS_PER_CLUSTER)
"""Searched for a private cluster's ports (a test's, a benchmark's): below the ephemeral range
and clear of the development services and of the defaults, so a user's own cluster keeps running
beside it."""


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/todo-evolution/local-cluster``: state outside the repo, per user."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "todo-evolution" / "local-cluster"


def _port(env: str, default: int, span: int) -> int:
    """The port ``env`` names, leaving room for the ``span`` ports listened on above it."""
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    top = 65535 - span
    if not raw.isdigit() or not 1024 <= int(raw) <= top:
        raise LocalClusterError(f"{env}={raw!r} is not a port between 1024 and {top}")
    return int(raw)


def port_taken(port: int) -> str | None:
    """Why ``port`` on 127.0.0.1 cannot be listened on, or None when it is free."""
    with socket.socket() as probe:
        # As the components' own listeners do: a previous run's connections in TIME_WAIT must
        # not count as taken, a listening socket must.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


@dataclass(frozen=True)
class ClusterSettings:
    """The state folder and the ports of one local control plane."""

    state_dir: Path
    api_port: int = DEFAULT_API_PORT
    etcd_port: int = DEFAULT_ETCD_PORT

    @classmethod
    def from_env(cls) -> ClusterSettings:
        """Settings from the environment (``TODO_LOCAL_CLUSTER_*``), else the defaults."""
        state = os.environ.get(STATE_DIR_ENV)
        return cls(
            state_dir=Path(state).resolve() if state else default_state_dir(),
            api_port=_port(API_PORT_ENV, DEFAULT_API_PORT, max(DAPR_PORT_OFFSETS.values())),
            etcd_port=_port(ETCD_PORT_ENV, DEFAULT_ETCD_PORT, 1),
        )

    @classmethod
    def private(cls, state_dir: Path) -> ClusterSettings:
        """A cluster of its own in ``state_dir``, on ports that are free now."""
        for base in PRIVATE_PORTS:
            if all(port_taken(port) is None for port in range(base, base + PORTS_PER_CLUSTER)):
                return cls(state_dir=state_dir.resolve(), api_port=base, etcd_port=base + 1)
        raise LocalClusterError(
            f"no free ports for a private control plane in {PRIVATE_PORTS.start}-"
            f"{PRIVATE_PORTS.stop - 1}"
        )

    def environ(self) -> dict[str, str]:
        """The environment that makes ``from_env`` (so ``todo-infra``) find this cluster."""
        return {
            STATE_DIR_ENV: str(self.state_dir),
            API_PORT_ENV: str(self.api_port),
            ETCD_PORT_ENV: str(self.etcd_port),
        }

    @property
    def etcd_peer_port(self) -> int:
        return self.etcd_port + 1

    def dapr_port(self, role: str) -> int:
        """The port of one of Dapr's listeners (a key of ``DAPR_PORT_OFFSETS``)."""
        return self.api_port + DAPR_PORT_OFFSETS[role]

    @property
    def ports(self) -> dict[int, str]:
        """Every port the cluster listens on, with what listens there and how to move it."""
        dapr = {
            self.dapr_port(role): f"Dapr's {role}, the API port + {offset} (set {API_PORT_ENV})"
            for role, offset in DAPR_PORT_OFFSETS.items()
        }
        return {
            self.api_port: f"kube-apiserver (set {API_PORT_ENV})",
            self.etcd_port: f"etcd (set {ETCD_PORT_ENV})",
            self.etcd_peer_port: f"etcd peer, the etcd port + 1 (set {ETCD_PORT_ENV})",
            **dapr,
        }

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def run_dir(self) -> Path:
        """Pid files."""
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def etcd_data_dir(self) -> Path:
        return self.state_dir / "etcd"

    @property
    def dapr_dir(self) -> Path:
        """Dapr's control plane's files: Sentry's tokens, the trust anchors."""
        return self.state_dir / "dapr"

    @property
    def egress_socket(self) -> Path:
        """The Unix socket of the API server's egress proxy (``stacks.local.egress_proxy``)."""
        return self.run_dir / "egress.sock"

    @property
    def kubeconfig(self) -> Path:
        """The administrator's kubeconfig, the one users and tests use."""
        return self.state_dir / "kubeconfig"
