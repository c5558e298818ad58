"""``todo-infra render``: offline, complete, redacted, schema-valid, and silent on bad settings."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from infra.secrets import dapr_app_token
from stacks.cli import EXIT_CONFIG_ERROR, main, project_dir
from stacks.render import (
    ALL_FILE,
    PLACEHOLDERS,
    REDACTED,
    record,
    stack_file_settings,
    with_placeholders,
)
from tests.infra.manifests import REPO, STACKS, write_user_stack_file

KUBERNETES_VERSIONS = ("1.31.0", "1.33.0")
"""Schemas the manifests must pass strictly: a still-supported release and a recent one."""
DAPR_KINDS = {"Component", "Configuration"}


def _render(stack: str, out: Path) -> list[dict[str, Any]]:
    project = out.parent / f"{out.name}-project"
    project.mkdir()
    write_user_stack_file(REPO / f"Pulumi.{stack}.yaml", project / f"Pulumi.{stack}.yaml")
    assert main(["render", "--stack", stack, "--out", str(out), "--project-dir", str(project)]) == 0
    return [yaml.safe_load(p.read_text()) for p in sorted(out.glob("[0-9]*.yaml"))]


@pytest.fixture(scope="module", params=STACKS)
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp(f"render-{request.param}")
    return out, _render(request.param, out)


def test_one_file_per_object_and_a_concatenated_file(
    rendered: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, objects = rendered
    text = (out / ALL_FILE).read_text()
    assert REDACTED in text.split("---", 1)[0], "all.yaml must warn that Secrets are redacted"
    combined = [doc for doc in yaml.safe_load_all(text) if doc]
    assert combined == objects
    assert combined[0]["kind"] == "Namespace"
    assert len({(o["kind"], o["metadata"]["name"]) for o in objects}) == len(objects)


def test_builtin_objects_pass_strict_schema_validation(
    rendered: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    builtin = [o for o in objects if o["kind"] not in DAPR_KINDS]
    assert len(builtin) > 30
    for version in KUBERNETES_VERSIONS:
        for obj in builtin:
            kubernetes_validate.validate(obj, version, strict=True)


def test_dapr_objects_are_well_formed(rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    """The Dapr CRD schemas are not bundled with kubernetes-validate; check their shape here."""
    _, objects = rendered
    dapr = [o for o in objects if o["kind"] in DAPR_KINDS]
    assert {o["kind"] for o in dapr} == DAPR_KINDS
    for obj in dapr:
        assert obj["apiVersion"].startswith("dapr.io/")
        assert isinstance(obj["spec"], dict)
        if obj["kind"] != "Configuration":
            assert obj["scopes"] == ["todo-api"], obj["metadata"]["name"]


def test_secret_values_are_redacted(rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    out, objects = rendered
    secrets = [o for o in objects if o["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == ["todo-credentials", "todo-dapr-app-token"]
    for secret in secrets:
        assert set(secret["stringData"].values()) == {REDACTED}
    text = "".join(p.read_text() for p in out.glob("*.yaml"))
    derived = dapr_app_token(SecretStr(PLACEHOLDERS["jwtSecret"]))
    for value in (*PLACEHOLDERS.values(), derived):
        assert value not in text


def test_the_broken_invariant_is_caught(rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    """The validator rejects a field the API does not know, so the test above can fail."""
    _, objects = rendered
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_render_needs_no_pulumi_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    assert _render("dev", tmp_path)


def test_render_replaces_stale_files(tmp_path: Path) -> None:
    (tmp_path / "999-deployment-gone.yaml").write_text("kind: Deployment\n")
    _render("dev", tmp_path)
    assert not (tmp_path / "999-deployment-gone.yaml").exists()


def _bad_project(tmp_path: Path, settings: str, profile: str = "dev") -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.dev.yaml").write_text(
        f"config:\n  todo-evolution:profile: {profile}\n{settings}", encoding="utf-8"
    )
    return project


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("  todo-evolution:kafka:\n    nodes: 0\n", r"todo-evolution:kafka\.nodes: .*greater than"),
        ("  todo-evolution:replicas: 3\n", r"todo-evolution:replicas: Extra inputs"),
        ("  todo-evolution:jwtSecret: in-plain-text-for-all-to-see-0123456789\n", "plaintext"),
    ],
)
def test_invalid_settings_exit_non_zero_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: str, message: str
) -> None:
    project = _bad_project(tmp_path, settings)
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.yaml").write_text("kind: ConfigMap\n")
    code = main(["render", "--stack", "dev", "--out", str(out), "--project-dir", str(project)])
    assert code == EXIT_CONFIG_ERROR
    assert [p.name for p in out.iterdir()] == ["kept.yaml"]
    assert re.search(message, capsys.readouterr().err)


def test_invalid_settings_do_not_create_the_output_directory(tmp_path: Path) -> None:
    project = _bad_project(tmp_path, "", profile="qa")
    out = tmp_path / "out"
    assert main(["render", "--stack", "dev", "--out", str(out), "--project-dir", str(project)])
    assert not out.exists()


def test_stack_files_hold_no_plaintext_secret() -> None:
    for stack in STACKS:
        config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key in ("postgresPassword", "redisPassword", "jwtSecret"):
            value = config.get(f"todo-evolution:{key}")
            assert value is None or set(value) == {"secure"}, (stack, key)


def test_the_project_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: todo-evolution\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert project_dir(nested) == tmp_path.resolve()
    assert project_dir(REPO / "docs") == REPO


def test_a_missing_stack_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["render", "--stack", "prod", "--out", str(out), "--project-dir", str(tmp_path)])
    assert code == EXIT_CONFIG_ERROR
    assert "Pulumi.prod.yaml not found" in capsys.readouterr().err
    assert not out.exists()


def test_pulumi_runs_the_same_program() -> None:
    """``main: stacks/`` runs stacks/__main__.py; it registers what the render writes."""
    settings, secret_keys = with_placeholders({"profile": "dev"}, set())
    _, registrations = record(
        lambda: runpy.run_module("stacks.__main__", run_name="__main__"),
        settings=settings,
        secret_keys=secret_keys,
    )
    kinds = {r.inputs.get("kind") for r in registrations if r.type.startswith("kubernetes:")}
    assert {"Namespace", "StatefulSet", "Deployment", "Job", "Ingress"} <= kinds


def test_stack_files_are_read_as_the_engine_passes_them(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(
        "config:\n"
        "  todo-evolution:profile: prod\n"
        "  todo-evolution:kafka:\n"
        "    nodes: 5\n"
        "  todo-evolution:jwtSecret:\n"
        "    secure: v1:abcdef\n"
        "  kubernetes:context: kind-todo\n"
    )
    settings, secret_keys = stack_file_settings(stack_file)
    assert settings == {"profile": "prod", "kafka": '{"nodes": 5}'}
    assert secret_keys == set()
    filled, secrets = with_placeholders(settings, secret_keys)
    assert secrets == set(PLACEHOLDERS)
    assert filled["jwtSecret"] == PLACEHOLDERS["jwtSecret"]


def test_render_prints_kinds_and_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--stack", "dev", "--out", str(tmp_path / "dev")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"^objects: .*Deployment 4, .*StatefulSet 3", printed, re.MULTILINE)
    cpu, memory = (
        int(n)
        for n in re.findall(r"requests at minimum replicas .*: (\d+)m CPU, (\d+)Mi", printed)[0]
    )
    assert 0 < cpu <= 1500
    assert 0 < memory <= 3 * 1024


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_tracked_stack_files_leave_the_image_to_the_user(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["render", "--stack", stack, "--out", str(out)]) == EXIT_CONFIG_ERROR
    assert "todo-evolution:appImage: required: the image of the service" in (
        capsys.readouterr().err
    )
    assert not out.exists()
