"""One real local control plane per test session, in its own state folder and on free ports.

The fixture runs ``todo-infra local start`` as a user would. It never skips: without the
toolchain the start builds it, and a start that fails fails every test that needs the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stacks.local.errors import LocalClusterError
from stacks.local.settings import ClusterSettings
from tests.process_table import live

TODO_INFRA = str(Path(sys.executable).parent / "todo-infra")
# A cold toolchain build takes longer than pytest-timeout allows; scripts/test builds it before
# these tests run.
COMMAND_TIMEOUT_S = 580


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
    """A cluster of its own in ``state_dir``, on free ports (a user's cluster keeps running)."""
    try:
        settings = ClusterSettings.private(state_dir)
    except LocalClusterError as error:
        pytest.fail(str(error), pytrace=False)
    env = {
        **os.environ,
        "PATH": f"{toolchain_bin()}{os.pathsep}{os.environ['PATH']}",
        **settings.environ(),
    }
    env.pop("KUBECONFIG", None)
    return Cluster(env=env, state_dir=settings.state_dir)


def processes_of(state_dir: Path) -> list[str]:
    """Every live process whose command line names ``state_dir``: what a cluster there runs."""
    return [
        " ".join(process.argv)
        for process in live()
        if any(str(state_dir) in arg for arg in process.argv)
    ]


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
