"""workload helpers: the secure defaults every container and pod gets, one test each."""

from __future__ import annotations

import pytest

from infra.probes import tcp_probes
from infra.workload import anti_affinity, container, pod_spec, scrape_annotations
from tests.infra.manifests import of_kind, render


def test_container_runs_as_non_root() -> None:
    context = container("app", image="a/b:1", size="nano").security_context
    assert context is not None
    assert context.run_as_non_root is True
    assert context.run_as_user == 10001


def test_container_cannot_escalate_and_has_no_capabilities() -> None:
    context = container("app", image="a/b:1", size="nano").security_context
    assert context is not None
    assert context.allow_privilege_escalation is False
    assert context.privileged is False
    assert context.capabilities is not None
    assert context.capabilities.drop == ["ALL"]


def test_container_root_filesystem_is_read_only() -> None:
    context = container("app", image="a/b:1", size="nano").security_context
    assert context is not None
    assert context.read_only_root_filesystem is True


def test_container_uses_the_runtime_seccomp_profile() -> None:
    context = container("app", image="a/b:1", size="nano").security_context
    assert context is not None
    assert context.seccomp_profile is not None
    assert context.seccomp_profile.type == "RuntimeDefault"


def test_container_has_requests_and_limits() -> None:
    resources = container("app", image="a/b:1", size="small").resources
    assert resources is not None
    assert resources.requests == {"cpu": "100m", "memory": "192Mi"}
    assert resources.limits == {"cpu": "500m", "memory": "384Mi"}


def test_container_probes_are_set_when_given() -> None:
    probed = container("app", image="a/b:1", size="nano", probes=tcp_probes(port=80))
    assert probed.liveness_probe is not None
    assert probed.readiness_probe is not None
    assert container("init", image="a/b:1", size="nano").liveness_probe is None


@pytest.mark.parametrize(("image", "reason"), [("a/b", "no tag"), ("a/b:latest", "'latest'")])
def test_container_refuses_unpinned_images(image: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        container("app", image=image, size="nano")


def test_container_refuses_unknown_sizes() -> None:
    with pytest.raises(ValueError, match=r"unknown resource preset 'huge'; valid presets: nano"):
        container("app", image="a/b:1", size="huge")


def test_pod_mounts_no_service_account_token_by_default() -> None:
    spec = pod_spec(
        containers=[container("a", image="a/b:1", size="nano")], service_account_name="sa"
    )
    assert spec.automount_service_account_token is False
    assert spec.enable_service_links is False
    assert spec.service_account_name == "sa"


def test_pod_context_is_non_root_with_runtime_seccomp() -> None:
    spec = pod_spec(
        containers=[container("a", image="a/b:1", size="nano")], service_account_name="sa"
    )
    context = spec.security_context
    assert context is not None
    assert context.run_as_non_root is True
    assert context.seccomp_profile is not None
    assert context.seccomp_profile.type == "RuntimeDefault"


def test_required_anti_affinity_refuses_to_share_a_node() -> None:
    affinity = anti_affinity({"app": "kafka"}, required=True).pod_anti_affinity
    assert affinity is not None
    assert affinity.required_during_scheduling_ignored_during_execution is not None
    assert affinity.preferred_during_scheduling_ignored_during_execution is None


def test_preferred_anti_affinity_only_prefers() -> None:
    affinity = anti_affinity({"app": "web"}, required=False).pod_anti_affinity
    assert affinity is not None
    assert affinity.required_during_scheduling_ignored_during_execution is None
    assert affinity.preferred_during_scheduling_ignored_during_execution is not None


def test_scrape_annotations() -> None:
    assert scrape_annotations(9187) == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9187",
        "prometheus.io/path": "/metrics",
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_deployments_take_back_what_kubectl_changed(stack):
    """A Deployment scaled by hand is taken back by the next `up`; without the annotation the
    real API server answered it with a server-side apply field conflict."""
    deployments = of_kind(render(stack).manifests(), "Deployment")
    assert deployments
    for deployment in deployments:
        annotations = deployment["metadata"].get("annotations") or {}
        assert annotations.get("pulumi.com/patchForce") == "true", deployment["metadata"]["name"]
