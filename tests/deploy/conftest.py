"""Session fixtures of the deploy tests: a project copy with its own local-target state, and
kubectl on the local control plane (started by ``todo-infra --local`` when it is not running).

Nothing here skips: without the toolchains or a control plane the tests fail with the reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stacks.local.cluster import ensure_started
from tests.deploy.harness import REPO, Kubectl, Project


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("deploy")
    return Project(root / "project", root / "state")


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    toolchain = subprocess.run(
        [str(REPO / "scripts" / "k8s-toolchain")], stdout=subprocess.PIPE, text=True, check=True
    )
    binary = Path(toolchain.stdout.strip().splitlines()[-1]) / "kubectl"
    return Kubectl(str(binary), str(ensure_started().kubeconfig))
