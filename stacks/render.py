"""Offline render: run the program under Pulumi mocks and write every Kubernetes object as YAML.

No Pulumi CLI, no state and no cluster: the SDK's mock monitor stands in for the engine and
records each resource's inputs, which for a Kubernetes resource are its manifest. Users diff
the output to review a change and feed it to scanners; CI validates it against the Kubernetes
API schemas.

Secrets. A stack's secrets are encrypted with the stack's key, which only the Pulumi CLI can
use, so the render never reads them: it runs with placeholder values (:data:`PLACEHOLDERS`),
and every Secret's values are replaced by :data:`REDACTED` in the output anyway.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from pulumi.runtime import mocks
from pulumi.runtime.mocks import MockMonitor

from infra.cluster.offline import is_cloud_invoke, offline_invoke, offline_outputs
from stacks.config import PROJECT, SECRET_KEYS, StackConfig, stack_config
from stacks.program import run, stack_outputs

REDACTED = "REDACTED"
PLACEHOLDERS: dict[str, str] = {
    key: f"render-placeholder-{key}-not-a-real-secret" for key in SECRET_KEYS
}
"""Stand-ins for the secrets during a render; long enough to pass validation, never deployed."""

ALL_FILE = "all.yaml"
ALL_HEADER = (
    "# Rendered by `todo-infra render`: every object in apply order, for `kubectl apply -f`.\n"
    "# Secret values read REDACTED: replace them (or create the Secrets yourself) before\n"
    "# applying; `pulumi up` sets the real values from the stack's secret config.\n"
)
T = TypeVar("T")

# kubectl applies a file in order: what others live in or refer to comes first.
_KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "StatefulSet",
    "Deployment",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "NetworkPolicy",
)


@dataclass(frozen=True)
class Registration:
    """One resource the program registered: its type token, logical name and inputs, and the
    logical names of the resources it waits for (``depends_on`` and inputs from outputs)."""

    type: str
    name: str
    inputs: dict[str, Any]
    dependencies: frozenset[str] = frozenset()


@dataclass
class Recorder(pulumi.runtime.Mocks):
    """Mocks that echo inputs back as outputs and remember every registration."""

    registrations: list[Registration] = field(default_factory=list)
    waits_for: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        dependencies = self.waits_for.get((args.typ, args.name), frozenset())
        self.registrations.append(
            Registration(args.typ, args.name, dict(args.inputs), dependencies)
        )
        # Cloud resources get the values only the cloud computes (endpoints, ARNs), fake ones.
        return f"{args.name}-id", offline_outputs(args.typ, args.name, args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # No failures is [], not None: the mock monitor iterates the second item.
        if is_cloud_invoke(args.token):
            return offline_invoke(args.token, args.args), []
        return {}, []


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also noting which resources each registration waits for."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.recorder = recorder

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802, ANN401 - the gRPC method
        urns = set(request.dependencies)
        for dependency in request.propertyDependencies.values():
            urns.update(dependency.urns)
        self.recorder.waits_for[(request.type, request.name)] = frozenset(
            urn.rsplit("::", 1)[-1] for urn in urns
        )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]  # SDK: unannotated


@dataclass(frozen=True)
class Rendered:
    """The result of running the program for one stack under mocks."""

    config: StackConfig
    registrations: list[Registration]
    outputs: dict[str, object]

    def manifests(self) -> list[dict[str, Any]]:
        """Every Kubernetes object, in apply order, Secret values redacted."""
        objects = [
            redact(r.inputs)
            for r in self.registrations
            if r.type.startswith("kubernetes:") and "kind" in r.inputs
        ]
        return sorted(objects, key=_apply_order)


def _apply_order(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    kind = str(obj["kind"])
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return rank, kind, str(obj.get("metadata", {}).get("name", ""))


# How the mock monitor hands over a value marked secret: {SIG_KEY: SECRET_SIG, "value": ...}.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a protocol marker, not a secret


def plain(value: Any) -> Any:  # noqa: ANN401 - walks arbitrary JSON-like data
    """``value`` as Kubernetes reads it: secrets unwrapped, whole numbers as integers, keys
    sorted (the protocol's maps are unordered; sorted keys make renders diffable).

    The engine protocol carries every number as a double; the API schemas want integers.
    """
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return plain(value.get("value"))
        return {key: plain(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def redact(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` as a manifest (``apiVersion``, ``kind``, ``metadata`` first), Secret values
    replaced by :data:`REDACTED`."""
    data = plain(dict(obj))
    head = {key: data.pop(key) for key in ("apiVersion", "kind", "metadata") if key in data}
    copy: dict[str, Any] = {**head, **data}
    if copy.get("kind") == "Secret":
        for section in ("data", "stringData"):
            if isinstance(copy.get(section), dict):
                copy[section] = dict.fromkeys(copy[section], REDACTED)
    return copy


def stack_file_settings(path: Path) -> tuple[dict[str, object], set[str]]:
    """The ``todo-evolution:*`` settings of a ``Pulumi.<stack>.yaml``, as the engine passes them.

    Structured values become JSON text and scalars text, like the engine hands them to the
    program. Encrypted (``secure:``) values cannot be read without the CLI and are left out.
    """
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    prefix = f"{PROJECT}:"
    settings: dict[str, object] = {}
    for key, value in (document.get("config") or {}).items():
        if not key.startswith(prefix):
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue
        settings[key.removeprefix(prefix)] = value if isinstance(value, str) else json.dumps(value)
    return settings, set()


def with_placeholders(
    settings: Mapping[str, object], secret_keys: set[str]
) -> tuple[dict[str, object], set[str]]:
    """The settings plus a placeholder, stored as a secret, for every secret not given."""
    filled = dict(settings)
    secrets = set(secret_keys)
    for key, value in PLACEHOLDERS.items():
        if key not in filled:
            filled[key] = value
            secrets.add(key)
    return filled, secrets


def record(
    build: Callable[[], T],
    *,
    stack: str = "test",
    settings: Mapping[str, object] | None = None,
    secret_keys: Collection[str] = (),
) -> tuple[T, list[Registration]]:
    """Call ``build`` under fresh mocks with these config settings; return its result and
    every resource it registered, in registration order. Exceptions propagate."""
    recorder = Recorder()
    pulumi.runtime.set_mocks(
        recorder,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=RecordingMonitor(recorder),
    )
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": str(value) for key, value in (settings or {}).items()},
        [f"{PROJECT}:{key}" for key in secret_keys],
    )
    result: list[T] = []

    def program() -> None:
        result.append(build())

    # mocks.test runs the program and waits for every registration to finish.
    mocks.test(program)()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
    return result[0], recorder.registrations


def run_stack(stack: str, settings: Mapping[str, object], secret_keys: set[str]) -> Rendered:
    """Run the program for ``stack`` with these settings under mocks.

    The settings are validated first, so invalid ones raise ``StackConfigError`` before the
    mock runtime is even set up.
    """
    stack_config(settings, secret_keys)
    (config, platform), registrations = record(
        run, stack=stack, settings=settings, secret_keys=secret_keys
    )
    return Rendered(config, registrations, stack_outputs(platform))


def render_stack(stack: str, project_dir: Path) -> Rendered:
    """Run the program for the stack file ``Pulumi.<stack>.yaml`` in ``project_dir``."""
    settings, secret_keys = stack_file_settings(project_dir / f"Pulumi.{stack}.yaml")
    return run_stack(stack, *with_placeholders(settings, secret_keys))


def write_manifests(manifests: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write one file per object plus :data:`ALL_FILE`, replacing the YAML already in ``out``.

    Files are written to a scratch directory first and moved in at the end, so a failure
    leaves ``out`` as it was.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        staged = Path(scratch)
        written = []
        for index, obj in enumerate(manifests, start=1):
            name = obj["metadata"]["name"]
            path = staged / f"{index:03d}-{str(obj['kind']).lower()}-{name}.yaml"
            path.write_text(_dump(obj), encoding="utf-8")
            written.append(path.name)
        (staged / ALL_FILE).write_text(
            ALL_HEADER + "".join(f"---\n{_dump(obj)}" for obj in manifests), encoding="utf-8"
        )
        for old in out.glob("*.yaml"):
            old.unlink()
        for name in [*written, ALL_FILE]:
            shutil.move(staged / name, out / name)
    return [out / name for name in [*written, ALL_FILE]]


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (scripts, config files) as literal blocks a reader can read."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def _dump(obj: Mapping[str, Any]) -> str:
    return yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
