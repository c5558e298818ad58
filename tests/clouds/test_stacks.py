"""The example cloud stacks through the real program: rendered offline, every object on the
cluster's provider, add-ons before what needs their CRDs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from stacks.cli import main
from stacks.config import PROJECT
from stacks.program import run as run_program
from stacks.render import run_stack
from tests.clouds.harness import Recording, run, secret_flag
from tests.clouds.test_aks import EXPECTED_COUNTS as AKS_COUNTS
from tests.clouds.test_backup_stores import with_backups
from tests.clouds.test_eks import EXPECTED_COUNTS as EKS_COUNTS
from tests.clouds.test_gke import EXPECTED_COUNTS as GKE_COUNTS
from tests.infra.manifests import user_stack_settings, write_user_stack_file

REPO = Path(__file__).resolve().parents[2]
CLOUD_STACKS = {
    "prod-eks": ("aws:", with_backups("eks", EKS_COUNTS), "gp3"),
    "prod-gke": ("gcp:", with_backups("gke", GKE_COUNTS), "pd-ssd"),
    "prod-aks": ("azure-native:", with_backups("aks", AKS_COUNTS), "todo-managed-premium"),
}
"""Each example stack's cloud, resource counts (the examples keep their dumps in the cloud's
object storage) and default storage class."""
CLOUD_PREFIXES = ("aws:", "gcp:", "azure-native:", "pulumi:providers:aws", "pulumi:providers:gcp")


def settings_of(stack: str) -> tuple[dict[str, object], set[str]]:
    return user_stack_settings(REPO / f"Pulumi.{stack}.yaml.example")


def program(stack: str, **overrides: object) -> Recording:
    """The stack's program under mocks, with ``overrides`` (top-level keys) on its settings."""
    settings, secret_keys = settings_of(stack)
    settings.update({key: json.dumps(value) for key, value in overrides.items()})
    return run(
        lambda: run_program() and None,
        project=PROJECT,
        config={f"{PROJECT}:{key}": str(value) for key, value in settings.items()},
        secret_keys=[f"{PROJECT}:{key}" for key in secret_keys],
    )


@pytest.mark.parametrize("stack", sorted(CLOUD_STACKS))
def test_cloud_stack_renders_offline_listing_its_cloud_resources(stack: str) -> None:
    prefix, counts, storage_class = CLOUD_STACKS[stack]
    rendered = run_stack(stack, *settings_of(stack))
    cloud = [r.type for r in rendered.registrations if r.type.startswith(prefix)]
    expected_cloud = {t: n for t, n in counts.items() if t.startswith(prefix)}
    assert {t: cloud.count(t) for t in set(cloud)} == expected_cloud
    manifests = rendered.manifests()
    classes = [m for m in manifests if m["kind"] == "StorageClass"]
    assert [c["metadata"]["name"] for c in classes] == [storage_class]
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "StatefulSet", "Ingress", "NetworkPolicy"} <= kinds
    # The examples monitor the stack, with the operator they install.
    assert {"PodMonitor", "PrometheusRule"} <= kinds
    assert [
        r.inputs["chart"]
        for r in rendered.registrations
        if r.type == "kubernetes:helm.sh/v3:Release"
        and r.inputs["chart"] == "kube-prometheus-stack"
    ] == ["kube-prometheus-stack"]
    claims = [
        t["spec"]["storageClassName"]
        for m in manifests
        if m["kind"] == "StatefulSet"
        for t in m["spec"].get("volumeClaimTemplates", [])
    ]
    assert claims
    assert set(claims) == {storage_class}


@pytest.mark.parametrize("stack", sorted(CLOUD_STACKS))
def test_every_kubernetes_object_uses_the_cluster_provider(stack: str) -> None:
    recording = program(stack)
    kube = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert len(kube) > 30
    for resource in kube:
        inherited = resource.providers.get("kubernetes", "").split("::")[-2:-1]
        assert resource.provider_name == "todo-cluster-k8s" or inherited == ["todo-cluster-k8s"], (
            resource.type,
            resource.name,
        )
    assert not any(
        r.type.startswith("pulumi:providers:kubernetes") and r.name != "todo-cluster-k8s"
        for r in recording.resources
    )


def test_kubeconfig_is_a_secret_stack_output(monkeypatch: pytest.MonkeyPatch) -> None:
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", exported.__setitem__)
    recording = program("prod-eks")
    assert [r.name for r in recording.of_type("todo:infra:EksCluster")] == ["todo-cluster"]
    assert secret_flag(exported["kubeconfig"])
    assert {"namespace", "endpoints"} <= set(exported)


def test_dapr_objects_wait_for_the_control_plane_and_ingress_for_the_issuers() -> None:
    recording = program("prod-eks")
    chart = next(
        r for r in recording.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "dapr"
    )
    components = [r for r in recording.resources if r.type.startswith("kubernetes:dapr.io/")]
    assert components
    for component in components:
        assert chart.urn in component.dependencies, component.name
    issuers = {r.urn for r in recording.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")}
    ingress = recording.one("kubernetes:networking.k8s.io/v1:Ingress")
    assert issuers <= set(ingress.dependencies)


def test_stack_without_a_cluster_registers_no_cloud_resource() -> None:
    rendered = run_stack("prod", *user_stack_settings(REPO / "Pulumi.prod.yaml"))
    assert not [r.type for r in rendered.registrations if r.type.startswith(CLOUD_PREFIXES)]


def test_todo_infra_render_writes_a_cloud_stack(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_user_stack_file(REPO / "Pulumi.prod-gke.yaml.example", project / "Pulumi.prod-gke.yaml")
    out = tmp_path / "out"
    code = main(["render", "--stack", "prod-gke", "--out", str(out), "--project-dir", str(project)])
    assert code == 0
    everything = list(yaml.safe_load_all((out / "all.yaml").read_text(encoding="utf-8")))
    classes = [o["metadata"]["name"] for o in everything if o["kind"] == "StorageClass"]
    assert classes == ["pd-ssd"]
    assert len(everything) > 30


@pytest.mark.parametrize("stack", sorted(CLOUD_STACKS))
def test_cloud_example_without_an_image_of_the_users_fails_naming_the_key(
    tmp_path: Path, stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(REPO / f"Pulumi.{stack}.yaml.example", tmp_path / f"Pulumi.{stack}.yaml")
    out = tmp_path / "out"
    code = main(["render", "--stack", stack, "--out", str(out), "--project-dir", str(tmp_path)])
    assert code == 2
    assert f"{PROJECT}:appImage: required: the image of the service you build and push" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_the_registry_address_is_a_stack_output(monkeypatch: pytest.MonkeyPatch) -> None:
    exported: dict[str, object] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))
    program("prod-eks")
    assert "kubeconfig" in exported
    assert "registry" not in exported
    cluster = json.loads(str(settings_of("prod-eks")[0]["cluster"]))
    recording = program("prod-eks", cluster={**cluster, "registry": {"enabled": True}})
    assert recording.one("aws:ecr/repository:Repository").inputs["name"] == "todo-api"
    assert isinstance(exported["registry"], pulumi.Output)
