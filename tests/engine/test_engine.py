"""The program through the real Pulumi engine and Kubernetes provider (``scripts/pulumi-ci``).

These tests need ``pulumi`` and ``pulumi-resource-kubernetes`` on PATH, which
``export PATH="$(scripts/pulumi-toolchain | tail -n 1):$PATH"`` provides. Without them they
fail and say so: a green run must mean the engine accepted every stack.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stacks.profiles import PROFILE_NAMES

REPO = Path(__file__).resolve().parents[2]


def _load_pulumi_ci() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pulumi_ci", REPO / "scripts" / "pulumi_ci.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


pulumi_ci = _load_pulumi_ci()


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any]]:
    """One run of ``scripts/pulumi-ci`` over every stack: exit code, output, reports by stack."""
    missing = [tool for tool in ("pulumi", "pulumi-resource-kubernetes") if not shutil.which(tool)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not on PATH: the engine checks cannot run. Put the toolchain "
            'on PATH first: export PATH="$(scripts/pulumi-toolchain | tail -n 1):$PATH"'
        )
    report = tmp_path_factory.mktemp("pulumi-ci") / "report.json"
    result = subprocess.run(
        [str(REPO / "scripts" / "pulumi-ci"), "--report", str(report)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    print(result.stdout)
    if not report.exists():
        pytest.fail(
            f"scripts/pulumi-ci wrote no report (exit {result.returncode}):\n{result.stderr}"
        )
    reports = {entry["stack"]: entry for entry in json.loads(report.read_text())}
    return result.returncode, result.stdout + result.stderr, reports


@pytest.mark.timeout(1800)
def test_pulumi_ci_passes_for_every_stack(engine_run: tuple[int, str, dict[str, Any]]) -> None:
    code, output, reports = engine_run
    assert sorted(reports) == sorted(PROFILE_NAMES)
    assert code == 0, output


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("stack", PROFILE_NAMES)
def test_preview_has_no_errors_and_one_resource_per_rendered_object(
    engine_run: tuple[int, str, dict[str, Any]], stack: str
) -> None:
    report = engine_run[2][stack]
    assert report["errors"] == []
    assert set(report["preview_steps"]) == {"create"}
    kubernetes = sum(
        n for t, n in report["resources_by_type"].items() if t.startswith("kubernetes:")
    )
    assert report["rendered_objects"] > 0
    assert kubernetes == report["rendered_objects"]
    assert report["resources_by_type"]["pulumi:pulumi:Stack"] == 1
    assert report["resources_by_type"]["todo:infra:Platform"] == 1


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("stack", PROFILE_NAMES)
def test_engine_manifests_equal_the_offline_render(
    engine_run: tuple[int, str, dict[str, Any]], stack: str
) -> None:
    report = engine_run[2][stack]
    assert report["engine_objects"] == report["rendered_objects"]
    assert report["problems"] == []


def _secret(value: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "todo", **meta},
        "stringData": {"password": value},
    }


def test_secret_values_and_engine_bookkeeping_are_ignored() -> None:
    engine = _secret(
        "real-value",
        labels={"app.kubernetes.io/managed-by": "pulumi"},
        annotations={"pulumi.com/autonamed": "false"},
    )
    offline = _secret("REDACTED")
    assert pulumi_ci.normalize(engine) == pulumi_ci.normalize(offline)


def test_a_changed_field_a_missing_key_and_a_missing_object_are_reported() -> None:
    engine = {
        "v1/Secret todo/creds": pulumi_ci.normalize(_secret("x")),
        "v1/ConfigMap todo/extra": {"kind": "ConfigMap"},
    }
    offline_secret = _secret("x")
    offline_secret["metadata"]["labels"] = {"tier": "data"}
    offline_secret["stringData"]["user"] = "todo"
    offline = {"v1/Secret todo/creds": pulumi_ci.normalize(offline_secret)}
    differences = pulumi_ci.compare_manifests(engine, offline)
    assert differences == [
        "v1/ConfigMap todo/extra: only the engine wrote it",
        'v1/Secret todo/creds .data.user: engine null != offline "REDACTED"',
        'v1/Secret todo/creds .metadata.labels: engine null != offline {"tier": "data"}',
    ]


def test_a_label_the_program_sets_itself_is_compared() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "x", "labels": {"managed": "pulumi"}}}
    assert pulumi_ci.normalize(obj) == obj


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [("1000m", "1"), ("2000m", "2"), ("1024Mi", "1Gi"), ("2048Mi", "2Gi"), ("1e3m", "1")],
)
def test_a_quantity_agrees_with_its_canonical_spelling(spelled: str, canonical: str) -> None:
    assert pulumi_ci.quantity(spelled) == pulumi_ci.quantity(canonical)


def test_different_quantities_still_differ() -> None:
    assert pulumi_ci.quantity("1000Mi") != pulumi_ci.quantity("1Gi")
    assert pulumi_ci.quantity("500m") != pulumi_ci.quantity("5")


def test_empty_collections_equal_absent_fields_but_quantities_elsewhere_are_text() -> None:
    offline = {
        "spec": {"ingress": [], "podSelector": {"matchLabels": {}}, "policyTypes": ["Ingress"]},
        "data": {"cpu": "1000m"},
        "resources": {"limits": {"cpu": "1000m"}},
    }
    engine = {
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "data": {"cpu": "1"},
        "resources": {"limits": {"cpu": "1"}},
    }
    assert pulumi_ci.canonical(engine)["resources"] == pulumi_ci.canonical(offline)["resources"]
    assert pulumi_ci.canonical(engine)["spec"] == pulumi_ci.canonical(offline)["spec"]
    assert pulumi_ci.canonical(engine)["data"] != pulumi_ci.canonical(offline)["data"]
