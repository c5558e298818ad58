"""The Ingress: routes, rate limit, CORS, security headers without snippets, TLS per stack."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.http_headers import ALLOWED_RESPONSE_HEADERS, SECURITY_HEADERS
from infra.ingress import SKIP_AWAIT, Ingress, IngressArgs, IngressSettings
from tests.infra.manifests import named, render
from tests.infra.mock_run import Registered, of_type, one, run

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NGINX = "nginx.ingress.kubernetes.io"


def _render(*, await_address: bool = True, **settings: object) -> list[Registered]:
    args = IngressArgs(
        namespace="todo-app",
        instance="todo",
        settings=IngressSettings(host="todo.example.com", **settings),
        backend_service="todo-backend",
        frontend_service="todo-frontend",
        await_address=await_address,
    )
    return run(lambda: Ingress("ingress", args))


def _ingress(resources: list[Registered]) -> dict:
    return one(resources, INGRESS).inputs


def test_api_goes_to_the_backend_and_everything_else_to_the_frontend():
    spec = _ingress(_render())["spec"]
    assert spec["ingressClassName"] == "nginx"
    (rule,) = spec["rules"]
    assert rule["host"] == "todo.example.com"
    routes = {p["path"]: (p["pathType"], p["backend"]["service"]) for p in rule["http"]["paths"]}
    assert routes == {
        "/api": ("Prefix", {"name": "todo-backend", "port": {"name": "http"}}),
        "/": ("Prefix", {"name": "todo-frontend", "port": {"name": "http"}}),
    }


def test_rate_limit_is_100_requests_per_minute():
    assert _ingress(_render())["metadata"]["annotations"][f"{NGINX}/limit-rpm"] == "100"


def test_no_snippet_annotation_is_used():
    annotations = _ingress(_render())["metadata"]["annotations"]
    assert not [key for key in annotations if "snippet" in key]


def test_cors_defaults_to_the_sites_own_origin():
    annotations = _ingress(_render())["metadata"]["annotations"]
    assert annotations[f"{NGINX}/enable-cors"] == "true"
    assert annotations[f"{NGINX}/cors-allow-origin"] == "https://todo.example.com"
    assert annotations[f"{NGINX}/cors-allow-credentials"] == "false"


def test_cors_origins_are_configurable():
    resources = _render(cors_allowed_origins=["https://a.example.com", "http://localhost:5173"])
    annotations = _ingress(resources)["metadata"]["annotations"]
    assert (
        annotations[f"{NGINX}/cors-allow-origin"] == "https://a.example.com, http://localhost:5173"
    )


def test_security_headers_come_from_a_configmap_named_by_custom_headers():
    resources = _render()
    headers = one(resources, "kubernetes:core/v1:ConfigMap").inputs
    assert headers["data"] == SECURITY_HEADERS
    assert headers["data"]["X-Frame-Options"] == "DENY"
    annotations = _ingress(resources)["metadata"]["annotations"]
    assert annotations[f"{NGINX}/custom-headers"] == "todo-app/todo-security-headers"
    assert set(ALLOWED_RESPONSE_HEADERS.split(",")) == set(SECURITY_HEADERS)


def test_security_headers_can_be_left_to_the_backends():
    resources = _render(security_headers=False)
    assert of_type(resources, "kubernetes:core/v1:ConfigMap") == []
    assert f"{NGINX}/custom-headers" not in _ingress(resources)["metadata"]["annotations"]


def test_tls_uses_the_cert_manager_issuer_and_forces_https():
    ingress = _ingress(_render(issuer="letsencrypt-staging"))
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-staging"
    assert annotations[f"{NGINX}/force-ssl-redirect"] == "true"
    assert ingress["spec"]["tls"] == [{"hosts": ["todo.example.com"], "secretName": "todo-tls"}]


def test_namespaced_issuer():
    annotations = _ingress(_render(issuer_kind="Issuer", issuer="local"))["metadata"]["annotations"]
    assert annotations["cert-manager.io/issuer"] == "local"
    assert "cert-manager.io/cluster-issuer" not in annotations


def test_tls_off_has_no_certificate_and_no_redirect():
    ingress = _ingress(_render(tls=False))
    assert "tls" not in ingress["spec"]
    annotations = ingress["metadata"]["annotations"]
    assert not [key for key in annotations if key.startswith("cert-manager.io/")]
    assert annotations[f"{NGINX}/ssl-redirect"] == "false"
    assert annotations[f"{NGINX}/cors-allow-origin"] == "http://todo.example.com"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cors_allowed_origins": ["*"]}, "'\\*' would let any site"),
        ({"host": "Todo.Example.com"}, "host='Todo.Example.com'"),
        ({"rate_limit_rpm": 0}, "rate_limit_rpm|rateLimitRpm"),
    ],
)
def test_bad_settings_fail_naming_the_key(settings, message):
    with pytest.raises(ValidationError, match=message):
        IngressSettings(**settings)


def test_await_for_an_address_by_default_keeps_the_providers_wait():
    assert SKIP_AWAIT not in _ingress(_render())["metadata"]["annotations"]


def test_no_await_skips_the_providers_wait_for_an_address():
    annotations = _ingress(_render(await_address=False))["metadata"]["annotations"]
    assert annotations[SKIP_AWAIT] == "true"


@pytest.mark.parametrize(
    ("overrides", "waits"),
    [
        ({}, False),  # no controller installed by the stack: nobody will publish an address
        ({"addons": {"ingressNginx": {"enabled": True}}}, True),
        ({"ingress": {"awaitLoadBalancer": True}}, True),
        (
            {
                "addons": {"ingressNginx": {"enabled": True}},
                "ingress": {"awaitLoadBalancer": False},
            },
            False,
        ),
    ],
)
def test_stacks_wait_for_an_address_only_where_a_controller_will_publish_one(overrides, waits):
    ingress = named(render("prod", **overrides).manifests(), "Ingress", "todo-ingress")
    assert (SKIP_AWAIT not in ingress["metadata"]["annotations"]) is waits
