"""What the stack needs from controllers it does not install, asked of a fake cluster.

Each prerequisite is checked present, missing, with its feature off, with the stack installing
the add-on, and on a cluster the stack creates; and a cluster that cannot be asked says so.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.http_headers import ALLOWED_RESPONSE_HEADERS, SECURITY_HEADERS
from stacks.cluster_checks import ClusterLookup, Prerequisite, Status
from stacks.config import StackConfig
from stacks.controllers import (
    DAPR_INJECTOR_LABELS,
    DROP_ALL_ENV,
    INGRESS_NGINX_LABELS,
    dapr_injector,
    ingress_headers,
)
from stacks.prerequisites import check_all
from tests.infra.cluster_fakes import (
    FakeCluster,
    config_map,
    deployment,
    selector_labels,
    stack,
)

Check = Callable[[StackConfig, ClusterLookup], Prerequisite]

NGINX = selector_labels(INGRESS_NGINX_LABELS)
INJECTOR = selector_labels(DAPR_INJECTOR_LABELS)
EKS = {"provider": "eks", "region": "eu-west-1"}
ALL_HEADERS = {"global-allowed-response-headers": ALLOWED_RESPONSE_HEADERS}


def nginx(**data: str) -> FakeCluster:
    """A cluster running ingress-nginx installed by its chart, with these settings."""
    return FakeCluster(
        served={
            "configmaps": [
                config_map("ingress-nginx", "ingress-nginx-controller", NGINX, **data),
                # Carries the controller's labels too, but holds headers, not settings.
                config_map("ingress-nginx", "ingress-nginx-custom-add-headers", NGINX),
            ]
        }
    )


def injector(**env: str) -> FakeCluster:
    return FakeCluster(
        served={
            "deployments": [deployment("dapr-system", "dapr-sidecar-injector", INJECTOR, **env)]
        }
    )


def test_headers_present_in_the_controllers_config_map() -> None:
    found = ingress_headers(stack("staging"), nginx(**ALL_HEADERS))
    assert found.status is Status.OK
    assert (
        found.detail == "global-allowed-response-headers in ingress-nginx/ingress-nginx-controller"
    )


def test_headers_listed_among_others_with_spaces_pass() -> None:
    listed = " X-Request-ID , " + " , ".join(SECURITY_HEADERS)
    found = ingress_headers(stack("staging"), nginx(**{"global-allowed-response-headers": listed}))
    assert found.status is Status.OK


def test_missing_headers_are_named_with_the_exact_key_value_and_off_switch() -> None:
    listed = "X-Request-ID,X-Frame-Options"
    found = ingress_headers(stack("staging"), nginx(**{"global-allowed-response-headers": listed}))
    assert found.status is Status.MISSING
    lacking = [h for h in SECURITY_HEADERS if h != "X-Frame-Options"]
    assert found.detail.startswith(
        f"ConfigMap ingress-nginx/ingress-nginx-controller lacks {', '.join(lacking)} in "
        "global-allowed-response-headers"
    )
    # The value keeps what the controller already allows and adds what the Ingress sends.
    value = ",".join(["X-Request-ID", "X-Frame-Options", *lacking])
    assert found.remedy.startswith(
        f"set global-allowed-response-headers: {value!r} in ConfigMap "
        "ingress-nginx/ingress-nginx-controller"
    )
    assert found.remedy.endswith("or set todo-evolution:ingress.securityHeaders=false")
    assert "\n" not in found.line()


def test_a_controller_without_the_key_misses_every_header() -> None:
    found = ingress_headers(stack("staging"), nginx())
    assert found.status is Status.MISSING
    assert f"{ALLOWED_RESPONSE_HEADERS!r}" in found.remedy


def test_no_ingress_nginx_in_the_cluster_has_nothing_to_configure() -> None:
    found = ingress_headers(stack("staging"), FakeCluster())
    assert found.status is Status.OK
    assert found.detail.startswith("no ingress-nginx controller found")


def test_injector_dropping_all_capabilities_passes() -> None:
    found = dapr_injector(stack("staging"), injector(**{DROP_ALL_ENV: "true"}))
    assert found.status is Status.OK
    assert found.detail == "SIDECAR_DROP_ALL_CAPABILITIES=true in dapr-system/dapr-sidecar-injector"


@pytest.mark.parametrize("value", ["false", "", "no"])
def test_injector_keeping_capabilities_is_missing_with_the_chart_value(value: str) -> None:
    found = dapr_injector(stack("staging"), injector(**{DROP_ALL_ENV: value}))
    assert found.status is Status.MISSING
    assert found.detail.startswith(
        "Deployment dapr-system/dapr-sidecar-injector does not set "
        "SIDECAR_DROP_ALL_CAPABILITIES=true (Pod Security 'restricted' in namespace "
        "todo-app-staging"
    )
    assert "dapr_sidecar_injector.sidecarDropALLCapabilities=true" in found.remedy
    assert "in namespace dapr-system" in found.remedy
    assert found.remedy.endswith("or set todo-evolution:dapr.enabled=false")


def test_injector_without_the_variable_is_missing() -> None:
    assert dapr_injector(stack("staging"), injector()).status is Status.MISSING


def test_no_injector_in_the_cluster_has_nothing_to_configure() -> None:
    found = dapr_injector(stack("staging"), FakeCluster())
    assert found.status is Status.OK
    assert found.detail.startswith("no Dapr sidecar injector found")


NOT_ASKED = [
    (
        ingress_headers,
        {"ingress": {"securityHeaders": False}},
        Status.NOT_NEEDED,
        "ingress.securityHeaders=false",
    ),
    (ingress_headers, {"ingress": {"enabled": False}}, Status.NOT_NEEDED, "ingress.enabled=false"),
    (
        ingress_headers,
        {"addons": {"ingressNginx": {"enabled": True}}},
        Status.NOT_NEEDED,
        "the stack installs ingress-nginx with the setting (addons.ingressNginx.enabled=true)",
    ),
    (
        ingress_headers,
        {"cluster": EKS},
        Status.SKIPPED,
        "not asked: the stack creates the cluster; an ingress-nginx you install there needs "
        f"global-allowed-response-headers listing {ALLOWED_RESPONSE_HEADERS.replace(',', ', ')}",
    ),
    (dapr_injector, {"dapr": {"enabled": False}}, Status.NOT_NEEDED, "dapr.enabled=false"),
    (
        dapr_injector,
        {"addons": {"dapr": {"enabled": True}}},
        Status.NOT_NEEDED,
        "the stack installs Dapr with dapr_sidecar_injector.sidecarDropALLCapabilities=true "
        "(addons.dapr.enabled=true)",
    ),
    (
        dapr_injector,
        {"cluster": EKS},
        Status.SKIPPED,
        "not asked: the stack creates the cluster; a Dapr you install there needs "
        "dapr_sidecar_injector.sidecarDropALLCapabilities=true",
    ),
]


@pytest.mark.parametrize(("check", "overrides", "status", "detail"), NOT_ASKED)
def test_the_cluster_is_not_asked_with_the_feature_off_the_add_on_on_or_a_new_cluster(
    check: Check, overrides: dict[str, object], status: Status, detail: str
) -> None:
    """The controllers are there and lack every setting: they do not matter here."""
    cluster = FakeCluster(served={**nginx().served, **injector().served})
    found = check(stack("prod", **overrides), cluster)
    assert (found.status, found.detail) == (status, detail)
    assert cluster.asked == []


def test_a_cluster_that_cannot_be_asked_is_unknown_in_one_line() -> None:
    cluster = FakeCluster(broken="connection refused")
    for found in (
        ingress_headers(stack("staging"), cluster),
        dapr_injector(stack("staging"), cluster),
    ):
        assert found.status is Status.UNKNOWN
        assert found.line() == "cannot ask the cluster with kubectl: connection refused"


def test_doctor_lists_every_prerequisite_once() -> None:
    found = check_all(stack("staging"), FakeCluster())
    assert [p.name for p in found] == [
        "Dapr CRDs",
        "Prometheus Operator CRDs",
        "ingress-nginx allows the security headers",
        "Dapr's injector drops all capabilities",
    ]
