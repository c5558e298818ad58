"""Invalid cluster and add-on settings fail with errors that name the key and the value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from infra.addons.settings import AddonsSettings, check_for_cloud
from infra.cluster import ClusterSettings, EksSettings, GkeSettings, NoCluster, NodePool

CLUSTER = TypeAdapter(ClusterSettings)


def cluster(value: dict[str, Any]) -> object:
    return CLUSTER.validate_python(value)


def test_default_is_no_cluster() -> None:
    assert cluster({}) == NoCluster()
    assert cluster({"kubeconfig": "/tmp/kubeconfig"}) == NoCluster(kubeconfig="/tmp/kubeconfig")


def test_provider_selects_the_block_by_camel_case_keys() -> None:
    settings = cluster(
        {
            "provider": "eks",
            "region": "us-east-2",
            "nodePool": {"instanceType": "m6i.large", "min": 2, "max": 4},
            "apiPublicCidrs": ["203.0.113.0/24"],
        }
    )
    assert isinstance(settings, EksSettings)
    assert settings.node_pool == NodePool(instance_type="m6i.large", min=2, max=4)


def test_unknown_provider_is_refused_listing_the_choices() -> None:
    with pytest.raises(ValidationError, match=r"provider must be one of none, eks, gke, aks"):
        cluster({"provider": "openshift"})


def test_a_field_of_another_cloud_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match=r"eks\.project\s+Extra inputs are not permitted"):
        cluster({"provider": "eks", "region": "us-east-2", "project": "my-project"})


def test_node_pool_min_above_max() -> None:
    with pytest.raises(ValidationError, match=r"nodePool min=5 is greater than max=3"):
        NodePool(instance_type="m6i.large", min=5, max=3)


def test_bad_cidr_names_the_key() -> None:
    with pytest.raises(ValidationError, match=r"apiPublicCidrs='0\.0\.0\.1/8' is not a CIDR"):
        cluster({"provider": "eks", "region": "us-east-2", "apiPublicCidrs": ["0.0.0.1/8"]})


def test_small_vpc_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"vpcCidr='10\.0\.0\.0/24' is too small"):
        cluster({"provider": "eks", "region": "us-east-2", "vpcCidr": "10.0.0.0/24"})


def test_bad_region_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"eks\.region"):
        cluster({"provider": "eks", "region": "Frankfurt"})


def test_overlapping_gke_ranges_name_both() -> None:
    with pytest.raises(ValidationError, match=r"podsCidr=10\.52\.0\.0/14 overlaps servicesCidr"):
        GkeSettings.model_validate(
            {
                "provider": "gke",
                "project": "todo-prod-1234",
                "region": "europe-west1",
                "servicesCidr": "10.53.0.0/20",
            }
        )


def test_gke_master_range_must_be_a_28() -> None:
    with pytest.raises(ValidationError, match=r"masterCidr='172\.16\.0\.0/24' must be a /28"):
        cluster(
            {
                "provider": "gke",
                "project": "todo-prod-1234",
                "region": "europe-west1",
                "masterCidr": "172.16.0.0/24",
            }
        )


def test_gke_labels_follow_gcp_rules() -> None:
    with pytest.raises(ValidationError, match=r"labels\['Team'\]"):
        cluster(
            {
                "provider": "gke",
                "project": "todo-prod-1234",
                "region": "europe-west1",
                "labels": {"Team": "x"},
            }
        )


def test_aks_dns_ip_outside_service_range() -> None:
    with pytest.raises(ValidationError, match=r"dnsServiceIp='10\.1\.0\.10' is not in"):
        cluster({"provider": "aks", "location": "westeurope", "dnsServiceIp": "10.1.0.10"})


def test_aks_overlay_pod_and_service_ranges_must_not_overlap() -> None:
    with pytest.raises(ValidationError, match=r"podCidr=10\.0\.0\.0/16 overlaps serviceCidr"):
        cluster({"provider": "aks", "location": "westeurope", "podCidr": "10.0.0.0/16"})


def test_addons_are_off_by_default() -> None:
    addons = AddonsSettings()
    assert not any(
        (
            addons.ingress_nginx.enabled,
            addons.cert_manager.enabled,
            addons.dapr.enabled,
            addons.metrics_server.enabled,
        )
    )


def test_cert_manager_needs_an_acme_email() -> None:
    with pytest.raises(ValidationError, match=r"addons\.certManager\.acmeEmail is required"):
        AddonsSettings.model_validate({"certManager": {"enabled": True}})


def test_acme_email_must_look_like_one() -> None:
    with pytest.raises(ValidationError, match=r"certManager\.acmeEmail"):
        AddonsSettings.model_validate({"certManager": {"enabled": True, "acmeEmail": "ops"}})


def test_gce_ingress_replaces_nginx() -> None:
    addons = AddonsSettings.model_validate({"ingressNginx": {"enabled": True}})
    with pytest.raises(ValueError, match=r"serves ingress class 'nginx', but .*className='gce'"):
        check_for_cloud(addons, "gke", "gce")


def test_gce_ingress_only_on_gke() -> None:
    addons = AddonsSettings()
    assert check_for_cloud(addons, "gke", "gce") is addons
    with pytest.raises(ValueError, match=r"className='gce' needs cluster.provider='gke'"):
        check_for_cloud(addons, "eks", "gce")


@pytest.mark.parametrize("cloud", ["gke", "aks"])
def test_no_second_metrics_server_where_the_cloud_runs_one(cloud: str) -> None:
    addons = AddonsSettings.model_validate({"metricsServer": {"enabled": True}})
    with pytest.raises(ValueError, match=rf"metricsServer\.enabled=true on .*'{cloud}'"):
        check_for_cloud(addons, cloud)
    assert check_for_cloud(addons, "eks") is addons
