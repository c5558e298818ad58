"""The frontend: unprivileged nginx serving the bundled UI from ConfigMaps, hardened."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.frontend import DEFAULT_IMAGE, WEB_DIR, Frontend, nginx_conf
from infra.http_headers import SECURITY_HEADERS
from tests.infra.mock_run import Registered, of_type, one, run
from tests.infra.workload_fixtures import frontend_args

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _render(**overrides: object) -> list[Registered]:
    return run(lambda: Frontend("frontend", frontend_args(**overrides)))


def _pod(resources: list[Registered]) -> dict:
    return one(resources, DEPLOYMENT).inputs["spec"]["template"]


def test_default_image_is_pinned_unprivileged_nginx():
    assert DEFAULT_IMAGE.startswith("nginxinc/nginx-unprivileged:")
    (web,) = _pod(_render())["spec"]["containers"]
    assert web["image"] == DEFAULT_IMAGE
    assert web["command"] == ["nginx", "-g", "daemon off;"]


def test_serves_the_bundled_web_ui_from_a_configmap():
    resources = _render()
    site = one(resources, "kubernetes:core/v1:ConfigMap", "-site").inputs
    assert set(site["data"]) == {p.name for p in WEB_DIR.iterdir()}
    assert "/api/v1" in site["data"]["api.js"]
    mounts = {m["name"]: m for m in _pod(resources)["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["site"]["mountPath"] == "/usr/share/nginx/html"
    assert mounts["site"]["readOnly"] is True
    assert mounts["nginx-conf"]["subPath"] == "nginx.conf"


def test_nginx_writes_only_to_the_tmp_empty_dir():
    conf = nginx_conf(8080, "/healthz")
    assert "pid /tmp/nginx.pid;" in conf
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{temp}_temp_path /tmp/" in conf
    spec = _pod(_render())["spec"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"]
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_nginx_sends_every_security_header():
    conf = nginx_conf(8080, "/healthz")
    for name in SECURITY_HEADERS:
        assert f"add_header {name} " in conf
    assert "server_tokens off;" in conf


def test_probes_hit_the_health_path_on_the_http_port():
    web = _pod(_render())["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["ports"][0]["containerPort"] == 8080


def test_changing_the_site_rolls_the_pods(tmp_path: Path):
    (tmp_path / "index.html").write_text("<p>one</p>")
    first = _pod(_render(site_dir=tmp_path))["metadata"]["annotations"]["checksum/config"]
    (tmp_path / "index.html").write_text("<p>two</p>")
    second = _pod(_render(site_dir=tmp_path))["metadata"]["annotations"]["checksum/config"]
    assert first != second


def test_no_dapr_sidecar_for_a_static_server():
    # nginx makes no Dapr call; a sidecar would cost its requests on every replica (issue 11, e).
    annotations = _pod(_render())["metadata"]["annotations"]
    assert not [key for key in annotations if key.startswith("dapr.io/")]
    with pytest.raises(ValidationError, match="dapr"):
        _render(dapr={"enabled": True})


def test_own_image_brings_its_own_content():
    resources = _render(image="ghcr.io/example/web:2.0.0", site_dir=None, port=3000)
    assert of_type(resources, "kubernetes:core/v1:ConfigMap") == []
    (web,) = _pod(resources)["spec"]["containers"]
    assert "command" not in web
    assert web["ports"][0]["containerPort"] == 3000


def test_prod_shape_spreads_and_keeps_two_of_three():
    resources = _render(replicas=3, autoscaled=True)
    assert "replicas" not in one(resources, DEPLOYMENT).inputs["spec"]
    pdb = one(resources, "kubernetes:policy/v1:PodDisruptionBudget").inputs["spec"]
    assert pdb["minAvailable"] == 2
    assert "podAntiAffinity" in _pod(resources)["spec"]["affinity"]


def test_nested_site_dir_is_refused(tmp_path: Path):
    (tmp_path / "index.html").write_text("x")
    (tmp_path / "assets").mkdir()
    with pytest.raises(ValidationError, match="must be flat"):
        frontend_args(site_dir=tmp_path)


def test_site_without_index_is_refused(tmp_path: Path):
    (tmp_path / "app.js").write_text("x")
    with pytest.raises(ValueError, match=r"no index\.html"):
        run(lambda: Frontend("frontend", frontend_args(site_dir=tmp_path)))


def test_health_path_must_be_an_absolute_path():
    with pytest.raises(ValidationError, match="health_path"):
        frontend_args(health_path="healthz; return 500")
