"""Dapr's control plane on the local cluster: Sentry issues the certificates, the injector is
registered as a webhook the API server reaches by URL over TLS, and it mutates pods the
ReplicaSet controller creates under Pod Security ``restricted``."""

from __future__ import annotations

import base64
import socket
import ssl
import time
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from infra.addons.dapr import NAMESPACE
from stacks.local.dapr_control_plane import INJECTOR_HOST, TRUST_BUNDLE, TRUST_DOMAIN, WEBHOOK
from stacks.local.settings import ClusterSettings
from tests.local.conftest import Cluster

POD_WAIT_S = 120.0
"""A guard: the ReplicaSet controller creates the pod within seconds."""


def _settings(cluster: Cluster) -> ClusterSettings:
    return ClusterSettings(state_dir=cluster.state_dir, api_port=cluster.api_port)


def _anchors(cluster: Cluster) -> str:
    bundle = cluster.kubectl_json("get", "configmap", TRUST_BUNDLE, "-n", NAMESPACE)
    anchors = bundle["data"]["ca.crt"]  # type: ignore[index]
    assert isinstance(anchors, str)
    assert "BEGIN CERTIFICATE" in anchors
    return anchors


def _peer_certificate(port: int, anchors: str, server_name: str | None) -> x509.Certificate:
    """The certificate served on ``port``, verified against Sentry's root (and ``server_name``,
    when given, as the API server checks a webhook's)."""
    context = ssl.create_default_context(cadata=anchors)
    context.check_hostname = server_name is not None
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_the_webhook_names_the_injector_by_url_with_sentrys_root(cluster: Cluster) -> None:
    anchors = _anchors(cluster)
    webhook = cluster.kubectl_json("get", "mutatingwebhookconfiguration", WEBHOOK)
    (hook,) = webhook["webhooks"]  # type: ignore[misc]
    config = hook["clientConfig"]
    assert "service" not in config
    url = urlsplit(config["url"])
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "https",
        INJECTOR_HOST,
        _settings(cluster).dapr_port("injector"),
        "/mutate",
    )
    assert base64.b64decode(config["caBundle"]).decode() == anchors


def test_sentry_issued_the_injectors_serving_certificate(cluster: Cluster) -> None:
    port = _settings(cluster).dapr_port("injector")
    anchors = _anchors(cluster)
    served = _peer_certificate(port, anchors, INJECTOR_HOST)
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [INJECTOR_HOST]
    # Why the webhook's URL cannot name 127.0.0.1: the certificate does not.
    with pytest.raises(ssl.SSLCertVerificationError, match=r"127\.0\.0\.1"):
        _peer_certificate(port, anchors, "127.0.0.1")


def test_sentry_issued_the_operators_identity(cluster: Cluster) -> None:
    served = _peer_certificate(_settings(cluster).dapr_port("operator"), _anchors(cluster), None)
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://{TRUST_DOMAIN}/ns/{NAMESPACE}/dapr-operator"
    ]


NAMESPACE_UNDER_TEST = "dapr-injection"
DEPLOYMENT = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE_UNDER_TEST}
  labels: {{pod-security.kubernetes.io/enforce: restricted}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: {NAMESPACE_UNDER_TEST}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata:
      labels: {{app: app}}
      annotations:
        dapr.io/enabled: "true"
        dapr.io/app-id: app
        dapr.io/app-port: "8000"
        dapr.io/sidecar-seccomp-profile-type: RuntimeDefault
    spec:
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
      - name: app
        image: app:1
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {{drop: [ALL]}}
"""


def test_the_injector_mutates_a_replica_set_pod_under_restricted(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    deadline = time.monotonic() + POD_WAIT_S
    pods: list[dict[str, object]] = []
    while not pods:
        assert time.monotonic() < deadline, cluster.kubectl(
            "get", "events", "-n", NAMESPACE_UNDER_TEST
        )
        pods = cluster.kubectl_json("get", "pods", "-n", NAMESPACE_UNDER_TEST)["items"]  # type: ignore[assignment]
        time.sleep(0.5)
    (pod,) = pods
    names = [c["name"] for c in pod["spec"]["containers"]]  # type: ignore[index]
    assert names == ["app", "daprd"]
