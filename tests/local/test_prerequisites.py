"""``todo-infra doctor`` and ``preview`` on the real API server, with controllers as their
charts install them: an ingress-nginx controller's ConfigMap and Dapr's injector Deployment.

The controllers only need to exist as objects (no container runs), so the Deployment keeps no
replicas. Both are deleted afterwards (the ingress-nginx namespace; in ``dapr-system``, which the
local Dapr control plane owns, only the Deployment): a controller left missing a setting would
make every later ``up`` on this control plane refuse.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from infra.http_headers import ALLOWED_RESPONSE_HEADERS
from stacks.controllers import DROP_ALL_ENV, INGRESS_NGINX_LABELS
from tests.infra.cluster_fakes import selector_labels
from tests.local.conftest import COMMAND_TIMEOUT_S, TODO_INFRA, Cluster

NGINX_NAMESPACE = "ingress-nginx"
INJECTOR_NAMESPACE = "dapr-system"
CONTROLLER_CONFIG = "ingress-nginx-controller"
INJECTOR = "dapr-sidecar-injector"


def todo_infra(cluster: Cluster, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``todo-infra ... --stack dev --local`` on this control plane, with its own deploy state."""
    return subprocess.run(
        [TODO_INFRA, *args, "--stack", "dev", "--local"],
        env={**cluster.env, "TODO_DEPLOY_STATE": str(state)},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def controllers(cluster: Cluster) -> Iterator[Cluster]:
    """The two controllers, installed without the settings the stack needs."""
    labels = selector_labels(INGRESS_NGINX_LABELS)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONTROLLER_CONFIG, "namespace": NGINX_NAMESPACE, "labels": labels},
        "data": {"global-allowed-response-headers": "X-Request-ID"},
    }
    cluster.kubectl("create", "namespace", NGINX_NAMESPACE)
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(config_map))
    # `create deployment` labels it app=<name>, as Dapr's chart labels the injector.
    cluster.kubectl(
        "-n",
        INJECTOR_NAMESPACE,
        "create",
        "deployment",
        INJECTOR,
        "--image=registry.invalid/dapr:1",
        "--replicas=0",
    )
    cluster.kubectl(
        "-n", INJECTOR_NAMESPACE, "set", "env", f"deployment/{INJECTOR}", f"{DROP_ALL_ENV}=false"
    )
    yield cluster
    cluster.kubectl("delete", "namespace", NGINX_NAMESPACE, "--wait=false")
    cluster.kubectl("-n", INJECTOR_NAMESPACE, "delete", "deployment", INJECTOR)


def test_doctor_and_preview_name_missing_controller_settings_until_fixed(
    controllers: Cluster, tmp_path: Path
) -> None:
    doctor = todo_infra(controllers, tmp_path, "doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    lines = doctor.stdout.splitlines()
    assert any(
        line.split()[:1] == ["missing"]
        and "ingress-nginx allows the security headers" in line
        and f"ConfigMap {NGINX_NAMESPACE}/{CONTROLLER_CONFIG} lacks" in line
        for line in lines
    ), doctor.stdout
    assert any(
        line.split()[:1] == ["missing"] and f"Deployment {INJECTOR_NAMESPACE}/{INJECTOR}" in line
        for line in lines
    ), doctor.stdout
    assert f"X-Request-ID,{ALLOWED_RESPONSE_HEADERS}" in doctor.stdout
    assert "dapr_sidecar_injector.sidecarDropALLCapabilities=true" in doctor.stdout
    assert "ok          Dapr CRDs" in doctor.stdout

    preview = todo_infra(controllers, tmp_path, "preview")
    assert preview.returncode == 2, preview.stdout + preview.stderr
    # The last line: the toolchain scripts may report progress on stderr before it.
    refusal = preview.stderr.strip().splitlines()[-1]
    assert refusal.startswith(f"error: ConfigMap {NGINX_NAMESPACE}/{CONTROLLER_CONFIG} lacks")
    assert "ingress.securityHeaders=false" in refusal
    assert "dapr.enabled=false" in refusal

    fixed_headers = {"data": {"global-allowed-response-headers": ALLOWED_RESPONSE_HEADERS}}
    controllers.kubectl(
        "-n",
        NGINX_NAMESPACE,
        "patch",
        "configmap",
        CONTROLLER_CONFIG,
        "--type=merge",
        "-p",
        json.dumps(fixed_headers),
    )
    controllers.kubectl(
        "-n", INJECTOR_NAMESPACE, "set", "env", f"deployment/{INJECTOR}", f"{DROP_ALL_ENV}=true"
    )
    healthy = todo_infra(controllers, tmp_path, "doctor")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert (
        f"ok          ingress-nginx allows the security headers: global-allowed-response-headers "
        f"in {NGINX_NAMESPACE}/{CONTROLLER_CONFIG}"
    ) in healthy.stdout
    assert f"{DROP_ALL_ENV}=true in {INJECTOR_NAMESPACE}/{INJECTOR}" in healthy.stdout
