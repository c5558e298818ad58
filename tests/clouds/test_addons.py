"""Add-ons under mocks: pinned charts, the right Helm mechanism, cloud data, CRD ordering."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra.addons import AddonsSettings, ClusterAddons, ClusterAddonsArgs
from infra.addons.charts import PinnedChart
from infra.addons.cloud import CloudName
from infra.addons.dapr import CHART as DAPR_CHART
from infra.cluster.offline import OFFLINE_KUBECONFIG
from tests.clouds.harness import Recording, Registered, run

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "kubernetes:helm.sh/v4:Chart"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
REPO = Path(__file__).resolve().parents[2]
ALL_ON: dict[str, Any] = {
    "ingressNginx": {"enabled": True},
    "certManager": {"enabled": True, "acmeEmail": "ops@example.org"},
    "dapr": {"enabled": True, "ha": True},
    "metricsServer": {"enabled": True},
    "kubePrometheusStack": {"enabled": True},
}


def build(
    settings: dict[str, Any], cloud: CloudName = "eks", ingress_class: str = "nginx"
) -> tuple[Recording, ClusterAddons]:
    holder: dict[str, ClusterAddons] = {}

    def program() -> None:
        provider = k8s.Provider("cluster-k8s", kubeconfig=OFFLINE_KUBECONFIG)
        holder["addons"] = ClusterAddons(
            "addons",
            ClusterAddonsArgs(
                settings=AddonsSettings.model_validate(settings),
                cloud=cloud,
                ingress_class=ingress_class,
            ),
            pulumi.ResourceOptions(providers=[provider]),
        )

    recording = run(program)
    return recording, holder["addons"]


def release(recording: Recording, chart: str) -> dict[str, Any]:
    found = [r.inputs for r in recording.of_type(RELEASE) if r.inputs["chart"] == chart]
    assert len(found) == 1, f"one release of {chart}: {found}"
    return found[0]


def test_all_off_creates_nothing_but_the_component() -> None:
    recording, addons = build({})
    assert [r.type for r in recording.resources if r.type.startswith("todo:")] == [
        "todo:infra:ClusterAddons"
    ]
    assert addons.dapr_ready == []
    assert addons.cert_manager_ready == []


def test_hook_charts_are_releases_and_the_others_v4_charts() -> None:
    recording, _ = build(ALL_ON)
    assert sorted(r.inputs["chart"] for r in recording.of_type(RELEASE)) == [
        "cert-manager",
        "ingress-nginx",
        "kube-prometheus-stack",
    ]
    assert sorted(r.inputs["chart"] for r in recording.of_type(CHART)) == [
        "dapr",
        "metrics-server",
    ]


def test_every_chart_is_pinned_to_an_exact_version() -> None:
    recording, _ = build(ALL_ON)
    charts = recording.of_type(RELEASE) + recording.of_type(CHART)
    assert len(charts) == 5
    for chart in charts:
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart.inputs["version"]), chart.inputs


def test_unpinned_versions_are_refused() -> None:
    with pytest.raises(ValueError, match=r"version '\^1\.2' is not pinned"):
        PinnedChart(name="x", version="^1.2", repo="https://charts.invalid")


def test_every_kubernetes_object_uses_the_given_provider() -> None:
    recording, _ = build(ALL_ON)
    kube = [r for r in recording.resources if r.type.startswith("kubernetes:")]
    assert {r.type for r in kube} >= {RELEASE, CHART, ISSUER}
    for resource in kube:
        explicit = resource.provider_name
        inherited = resource.providers.get("kubernetes", "").split("::")[-2:-1]
        assert explicit == "cluster-k8s" or inherited == ["cluster-k8s"], resource.name


@pytest.mark.parametrize(
    ("cloud", "load_balancer", "annotation", "value"),
    [
        ("eks", "public", "service.beta.kubernetes.io/aws-load-balancer-type", "nlb"),
        ("eks", "internal", "service.beta.kubernetes.io/aws-load-balancer-internal", "true"),
        ("gke", "internal", "networking.gke.io/load-balancer-type", "Internal"),
        ("aks", "internal", "service.beta.kubernetes.io/azure-load-balancer-internal", "true"),
    ],
)
def test_load_balancer_annotations_come_from_the_cloud_table(
    cloud: CloudName, load_balancer: str, annotation: str, value: str
) -> None:
    recording, _ = build(
        {"ingressNginx": {"enabled": True, "loadBalancer": load_balancer}}, cloud=cloud
    )
    service = release(recording, "ingress-nginx")["values"]["controller"]["service"]
    assert service["annotations"][annotation] == value


@pytest.mark.parametrize("cloud", ["none", "eks", "gke", "aks"])
def test_public_load_balancer_carries_no_internal_annotation(cloud: CloudName) -> None:
    recording, _ = build({"ingressNginx": {"enabled": True}}, cloud=cloud)
    annotations = release(recording, "ingress-nginx")["values"]["controller"]["service"][
        "annotations"
    ]
    assert not any("internal" in key or "Internal" in v for key, v in annotations.items())


def test_ingress_nginx_keeps_snippets_off_and_the_webhook_on() -> None:
    recording, _ = build({"ingressNginx": {"enabled": True, "replicas": 3}})
    controller = release(recording, "ingress-nginx")["values"]["controller"]
    assert controller["allowSnippetAnnotations"] is False
    assert controller["admissionWebhooks"]["enabled"] is True
    assert controller["replicaCount"] == 3


def test_cluster_issuers_use_the_acme_email_and_the_ingress_class() -> None:
    recording, addons = build(ALL_ON)
    issuers = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in recording.of_type(ISSUER)}
    assert sorted(issuers) == ["letsencrypt-prod", "letsencrypt-staging"]
    for spec in issuers.values():
        assert spec["acme"]["email"] == "ops@example.org"
        assert spec["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert "staging" in issuers["letsencrypt-staging"]["acme"]["server"]
    assert "staging" not in issuers["letsencrypt-prod"]["acme"]["server"]
    assert addons.ingress_class_name == "nginx"


def test_issuers_wait_for_the_cert_manager_release() -> None:
    recording, addons = build(ALL_ON)
    cert_manager = next(
        r for r in recording.of_type(RELEASE) if r.inputs["chart"] == "cert-manager"
    )
    for issuer in recording.of_type(ISSUER):
        assert cert_manager.urn in issuer.dependencies
    assert len(addons.cert_manager_ready) == 3


def test_cert_manager_waits_for_ingress_nginx() -> None:
    recording, _ = build(ALL_ON)
    ingress = release_resource(recording, "ingress-nginx")
    assert ingress.urn in release_resource(recording, "cert-manager").dependencies


def release_resource(recording: Recording, chart: str) -> Registered:
    return next(r for r in recording.of_type(RELEASE) if r.inputs["chart"] == chart)


def test_dapr_chart_waits_for_its_namespace_and_is_what_the_app_waits_for() -> None:
    recording, addons = build(ALL_ON)
    chart = next(r for r in recording.of_type(CHART) if r.inputs["chart"] == "dapr")
    namespace = recording.one("kubernetes:core/v1:Namespace")
    assert namespace.inputs["metadata"]["name"] == "dapr-system"
    assert namespace.urn in chart.dependencies
    assert chart.inputs["values"]["global"]["ha"] == {"enabled": True}
    assert len(addons.dapr_ready) == 1


@pytest.mark.parametrize("mtls", [True, False])
def test_dapr_mtls_is_set_on_the_control_plane(mtls: bool) -> None:
    # Dapr reads mTLS only from the daprsystem Configuration the chart writes from global.mtls.
    recording, _ = build({"dapr": {"enabled": True, "mtls": mtls}})
    chart = next(r for r in recording.of_type(CHART) if r.inputs["chart"] == "dapr")
    assert chart.inputs["values"]["global"]["mtls"] == {
        "enabled": mtls,
        "workloadCertTTL": "24h",
        "allowedClockSkew": "15m",
    }


def test_gce_class_on_gke_installs_no_nginx() -> None:
    recording, addons = build(
        {"certManager": {"enabled": True, "acmeEmail": "ops@example.org"}}, "gke", "gce"
    )
    assert [r.inputs["chart"] for r in recording.of_type(RELEASE)] == ["cert-manager"]
    assert addons.ingress_class_name == "gce"
    for issuer in recording.of_type(ISSUER):
        solver = issuer.inputs["spec"]["acme"]["solvers"][0]
        assert solver["http01"]["ingress"]["ingressClassName"] == "gce"


def test_a_setting_that_does_not_fit_the_cloud_fails_before_any_resource() -> None:
    with pytest.raises(ValueError, match=r"metricsServer\.enabled=true on .*'aks'"):
        ClusterAddonsArgs(
            settings=AddonsSettings.model_validate({"metricsServer": {"enabled": True}}),
            cloud="aks",
        )


def test_kube_prometheus_stack_selects_every_monitor_and_rule() -> None:
    """The stack's PodMonitors and PrometheusRule carry no release label: Prometheus must
    select them anyway, and the monitors must wait for the operator's CRDs."""
    recording, addons = build({"kubePrometheusStack": {"enabled": True, "retentionDays": 30}})
    stack = release(recording, "kube-prometheus-stack")
    assert stack["namespace"] == "monitoring"
    spec = stack["values"]["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["retention"] == "30d"
    # Grafana stays off: the chart's default admin password is public.
    assert stack["values"]["grafana"] == {"enabled": False}
    assert len(addons.monitoring_ready) == 1


def test_dapr_chart_is_the_release_daprd_and_the_crds_are_built_from() -> None:
    # One Dapr release everywhere: the sidecars the chart's injector adds run the daprd that
    # tests/dapr runs (scripts/daprd-toolchain reads the pin from scripts/k8s-toolchain).
    pins = re.findall(
        r"^DAPR_VERSION=([0-9.]+)$",
        (REPO / "scripts" / "k8s-toolchain").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert pins == [DAPR_CHART.version]
    wrapper = (REPO / "scripts" / "daprd-wrapper" / "go.mod").read_text(encoding="utf-8")
    assert f"github.com/dapr/dapr v{DAPR_CHART.version}\n" in wrapper
