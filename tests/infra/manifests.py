"""Helpers to run stacks under mocks and read the Kubernetes objects they would create."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from stacks.config import EXAMPLE_APP_IMAGE, PROJECT
from stacks.profiles import PROFILES
from stacks.render import (
    Rendered,
    plain,
    record,
    run_stack,
    stack_file_settings,
    with_placeholders,
)
from stacks.summary import WORKLOAD_KINDS, pod_template

REPO = Path(__file__).resolve().parents[2]
STACKS = ("dev", "staging", "prod")

Manifest = dict[str, Any]


def with_user_image(settings: dict[str, object]) -> dict[str, object]:
    """The settings plus the ``appImage`` a user sets when the profile gives none (every
    profile but dev): the stack files leave it to the user, who owns the registry."""
    if "appImage" in settings or "appImage" in PROFILES.get(str(settings.get("profile")), {}):
        return settings
    return {**settings, "appImage": EXAMPLE_APP_IMAGE}


def write_user_stack_file(source: Path, target: Path) -> Path:
    """Copy a stack file to ``target`` with the image a user sets where the profile has none."""
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    settings = {k.removeprefix(f"{PROJECT}:"): v for k, v in document["config"].items()}
    document["config"].update(
        {f"{PROJECT}:{k}": v for k, v in with_user_image(settings).items() if k not in settings}
    )
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def user_stack_settings(path: Path) -> tuple[dict[str, object], set[str]]:
    """A stack file's settings as a user runs them: with an image and the secrets set."""
    settings, secret_keys = stack_file_settings(path)
    return with_placeholders(with_user_image(settings), secret_keys)


def render(stack: str, **overrides: object) -> Rendered:
    """The program's run for ``Pulumi.<stack>.yaml`` plus ``overrides`` (top-level keys)."""
    settings, secret_keys = user_stack_settings(REPO / f"Pulumi.{stack}.yaml")
    for key, value in overrides.items():
        settings[key] = value if isinstance(value, str) else json.dumps(value)
    return run_stack(stack, settings, secret_keys)


def build(component: Callable[[], object]) -> list[Manifest]:
    """The Kubernetes objects ``component`` registers under mocks, unredacted."""
    _, registrations = record(component)
    return [
        plain(r.inputs)
        for r in registrations
        if r.type.startswith("kubernetes:") and "kind" in r.inputs
    ]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(workload)["spec"]
    return spec


def containers(workload: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every container of a workload's pod, init containers included, as (kind, container)."""
    spec = pod_spec(workload)
    for container in spec.get("initContainers", []):
        yield "init", container
    for container in spec["containers"]:
        yield "main", container


def assert_hardened(context: dict[str, Any]) -> None:
    """A container security context as every container (and the injected daprd) must have it:
    what Pod Security ``restricted`` requires, plus a read-only root."""
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
