"""The API Deployment: start-up order, probes, metrics, Dapr, settings and its secure defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.backend import Backend
from tests.infra.manifests import assert_hardened
from tests.infra.mock_run import Registered, of_type, one, run
from tests.infra.workload_fixtures import backend_args

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _render(**overrides: object) -> list[Registered]:
    return run(lambda: Backend("backend", backend_args(**overrides)))


def _pod(resources: list[Registered]) -> dict:
    return one(resources, DEPLOYMENT).inputs["spec"]["template"]


def test_component_token_and_children():
    resources = _render(replicas=2)
    assert one(resources, "todo:infra:Backend").name == "backend"
    assert {r.name for r in resources} >= {"backend-deployment", "backend-service", "backend-pdb"}


def test_waits_for_postgres_then_migrates_before_the_api_starts():
    spec = _pod(_render())["spec"]
    wait, migrate = spec["initContainers"]
    assert wait["name"] == "wait-for-postgres"
    assert "pg_isready" in wait["command"][-1]
    assert {e["name"]: e["value"] for e in wait["env"]} == {
        "PGHOST": "todo-postgresql",
        "PGPORT": "5432",
        "PGUSER": "todo",
    }
    assert migrate["command"] == ["todo-api", "migrate"]
    assert migrate["image"] == spec["containers"][0]["image"]
    assert spec["containers"][0]["command"] == [
        "todo-api",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness():
    api = _pod(_render())["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_prometheus_scrapes_metrics_on_the_api_port():
    annotations = _pod(_render())["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8000"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_dapr_sidecar_annotations_name_app_port_and_config():
    annotations = _pod(_render())["metadata"]["annotations"]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == "todo-api"
    assert annotations["dapr.io/app-port"] == "8000"
    assert annotations["dapr.io/config"] == "todo-dapr"
    assert annotations["dapr.io/sidecar-seccomp-profile-type"] == "RuntimeDefault"
    assert annotations["dapr.io/sidecar-memory-limit"].endswith("Mi")


def test_dapr_sidecar_needs_no_api_token():
    # The pod mounts no API token; daprd's built-in Kubernetes secret store would need one and
    # fail its init, crash-looping the sidecar (issue 11, a). Sentry's token is the injector's.
    pod = _pod(_render())
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["metadata"]["annotations"]["dapr.io/disable-builtin-k8s-secret-store"] == "true"


def test_dapr_sidecar_sends_the_app_token_from_its_secret():
    annotations = _pod(_render(dapr_app_token_secret="todo-dapr-app-token"))["metadata"][
        "annotations"
    ]
    assert annotations["dapr.io/app-token-secret"] == "todo-dapr-app-token"
    assert "dapr.io/app-token-secret" not in _pod(_render())["metadata"]["annotations"]


def test_dapr_off_leaves_no_dapr_annotation():
    resources = _render(dapr={"enabled": False}, dapr_app_token_secret="todo-dapr-app-token")
    annotations = _pod(resources)["metadata"]["annotations"]
    assert not [key for key in annotations if key.startswith("dapr.io/")]


def _credential_files(spec: dict, container: dict) -> dict[str, str]:
    """TODO_*_FILE variable -> the Secret key behind the file it names."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if "secret" in volumes[m["name"]]]
    assert mount["readOnly"] is True
    secret = volumes[mount["name"]]["secret"]
    assert secret["secretName"] == "todo-credentials"
    assert secret["defaultMode"] == 0o440
    keys = {item["path"]: item["key"] for item in secret["items"]}
    return {
        v["name"]: keys[v["value"].removeprefix(mount["mountPath"] + "/")]
        for v in container.get("env", [])
        if v["name"].endswith("_FILE")
    }


def test_settings_come_from_the_configmap_and_only_the_secret_keys_each_container_reads():
    spec = _pod(_render())["spec"]
    expected = [{"configMapRef": {"name": "todo-settings"}}]
    api, migrate = spec["containers"][0], spec["initContainers"][1]
    assert api["envFrom"] == expected
    assert migrate["envFrom"] == expected
    api_keys = ("TODO_DATABASE_URL", "TODO_REDIS_URL", "TODO_JWT_SECRET", "TODO_DAPR_APP_TOKEN")
    assert _credential_files(spec, api) == {f"{key}_FILE": key for key in api_keys}
    # The migration holds the administrator's URL, to make the roles, and the login roles'
    # URLs (their passwords); the API only the app's.
    assert _credential_files(spec, migrate) == {
        "TODO_DATABASE_ADMIN_URL_FILE": "TODO_DATABASE_ADMIN_URL",
        "TODO_DATABASE_URL_FILE": "TODO_DATABASE_URL",
        "TODO_DATABASE_MONITOR_URL_FILE": "TODO_DATABASE_MONITOR_URL",
        "TODO_DATABASE_BACKUP_URL_FILE": "TODO_DATABASE_BACKUP_URL",
    }


def test_credentials_are_files_not_environment_variables():
    spec = _pod(_render())["spec"]
    for container in [*spec["initContainers"], *spec["containers"]]:
        refs = [v for v in container.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})]
        assert refs == [], container["name"]


@pytest.mark.parametrize("container", ["wait-for-postgres", "migrate", "api"])
def test_every_container_is_hardened(container):
    spec = _pod(_render())["spec"]
    found = {c["name"]: c for c in spec["initContainers"] + spec["containers"]}[container]
    assert_hardened(found["securityContext"])
    assert set(found["resources"]) == {"requests", "limits"}


def test_service_account_token_is_not_mounted():
    assert _pod(_render())["spec"]["automountServiceAccountToken"] is False


def test_writable_tmp_is_a_size_capped_empty_dir():
    spec = _pod(_render())["spec"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in spec["containers"][0]["volumeMounts"]


def test_replicas_spread_over_nodes_by_default():
    affinity = _pod(_render())["spec"]["affinity"]["podAntiAffinity"]
    term = affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "backend"


def test_required_spread_refuses_two_replicas_per_node():
    affinity = _pod(_render(spread="required"))["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in affinity


def test_fixed_replicas_are_set_and_autoscaled_replicas_are_left_to_the_hpa():
    fixed = one(_render(replicas=2), DEPLOYMENT).inputs["spec"]
    scaled = one(_render(replicas=2, autoscaled=True), DEPLOYMENT).inputs["spec"]
    assert fixed["replicas"] == 2
    assert "replicas" not in scaled


def test_rolling_update_keeps_every_serving_pod_until_its_replacement_is_ready():
    strategy = one(_render(), DEPLOYMENT).inputs["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_pdb_only_with_more_than_one_replica():
    assert of_type(_render(replicas=1), "kubernetes:policy/v1:PodDisruptionBudget") == []
    pdb = one(_render(replicas=2), "kubernetes:policy/v1:PodDisruptionBudget")
    assert pdb.inputs["spec"]["minAvailable"] == 1


def test_service_targets_the_api_port_by_name():
    service = one(_render(), "kubernetes:core/v1:Service").inputs
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "todo-api",
        "app.kubernetes.io/instance": "todo",
        "app.kubernetes.io/component": "backend",
    }


def test_recommended_labels_on_every_object():
    for resource in _render(replicas=2):
        if resource.type.startswith("kubernetes:"):
            labels = resource.inputs["metadata"]["labels"]
            assert labels["app.kubernetes.io/part-of"] == "todo-evolution", resource.name
            assert labels["app.kubernetes.io/version"] == "0.1.0", resource.name


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image", "ghcr.io/example/todo-api:latest", "latest"),
        ("wait_image", "postgres", "no tag"),
        ("namespace", "Todo_App", "namespace='Todo_App'"),
        ("replicas", 0, "replicas"),
        ("spread", "sometimes", "spread"),
    ],
)
def test_bad_args_fail_naming_the_field(field, value, message):
    with pytest.raises((ValidationError, ValueError), match=message):
        Backend("backend", backend_args(**{field: value}))
