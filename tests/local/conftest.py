"""One real local control plane per test session, in its own state folder and on free ports.

The fixture runs ``todo-infra local start`` as a user would. It never skips: without the
toolchain the start builds it, and a start that fails fails every test that needs the cluster.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TODO_INFRA = str(Path(sys.executable).parent / "todo-infra")
# A cold toolchain build takes longer than pytest-timeout allows; scripts/test builds it before
# these tests run.
COMMAND_TIMEOUT_S = 580
# Searched for free ports: below the ephemeral range and clear of the development services and
# of the cluster defaults (26443, 22379), so a user's own cluster can keep running.
PORT_RANGE = range(27100, 27900, 10)


@dataclass(frozen=True)
class Cluster:
    """A control plane's environment, as a user's shell would carry it."""

    env: dict[str, str]
    state_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def api_port(self) -> int:
        return int(self.env["TODO_LOCAL_CLUSTER_API_PORT"])

    def todo_infra(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TODO_INFRA, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}", pytrace=False)
        return result.stdout + result.stderr

    def kubectl_json(self, *args: str) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.kubectl(*args, "-o", "json"))
        return loaded


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> tuple[int, int]:
    """An API port and an etcd port (and etcd's peer port above it) that are free now."""
    for base in PORT_RANGE:
        if all(_free(port) for port in (base, base + 1, base + 2)):
            return base, base + 1
    pytest.fail(f"no free ports in {PORT_RANGE}", pytrace=False)


def toolchain_bin() -> Path:
    """The toolchain's bin folder (built now if absent), for kubectl on PATH."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "k8s-toolchain"
    result = subprocess.run(
        [str(script)], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/k8s-toolchain failed:\n{result.stderr}", pytrace=False)
    return Path(result.stdout.strip().splitlines()[-1])


def cluster_env(state_dir: Path) -> Cluster:
    api, etcd = _ports()
    env = {
        **os.environ,
        "PATH": f"{toolchain_bin()}{os.pathsep}{os.environ['PATH']}",
        "TODO_LOCAL_CLUSTER_DIR": str(state_dir),
        "TODO_LOCAL_CLUSTER_API_PORT": str(api),
        "TODO_LOCAL_CLUSTER_ETCD_PORT": str(etcd),
    }
    env.pop("KUBECONFIG", None)
    return Cluster(env=env, state_dir=state_dir)


def processes_of(state_dir: Path) -> list[str]:
    """Every live process whose command line names ``state_dir``: what a cluster there runs."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(str(state_dir) in arg for arg in argv):
            found.append(" ".join(argv).strip())
    return found


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The session's running control plane; stopped at the end."""
    running = cluster_env(tmp_path_factory.mktemp("local-cluster"))
    started = running.todo_infra("local", "start")
    if started.returncode != 0:
        running.todo_infra("local", "stop")
        pytest.fail(f"`todo-infra local start` failed:\n{started.stderr}", pytrace=False)
    yield running
    running.todo_infra("local", "stop")
