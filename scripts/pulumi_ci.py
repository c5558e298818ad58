"""The offline engine checks behind ``scripts/pulumi-ci``: the program through the real engine.

For every stack, in a throwaway file backend with a passphrase secrets provider (no Pulumi
Cloud, nothing written to the checkout or to ``~/.pulumi``):

1. ``pulumi stack init`` and ``pulumi config set --secret`` for the secrets the program
   requires (random values, living only in the temporary backend), and
   ``kubernetes:renderYamlToDirectory`` so the provider writes YAML instead of calling a cluster;
2. ``pulumi preview``: no error diagnostics, and exactly one Kubernetes resource per object that
   ``todo-infra render`` writes, plus the components, the stack and the provider;
3. ``pulumi up``: the provider writes the manifests, which must equal ``todo-infra render``'s
   object for object, apart from Secret values and the fields only the engine fills.

The Python language host (``pulumi-language-python``) is not served by the Go module proxy, so it
cannot be built here. The program is therefore run the way Pulumi's Automation API runs an inline
program: the SDK serves the language runtime in this process and the CLI connects to it
(``pulumi preview --client``). The engine, the CLI, the state, the config and secrets handling and
the provider are the real ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import yaml
from pulumi import automation as auto

from stacks.config import EXAMPLE_APP_IMAGE, PROJECT, SECRET_KEYS
from stacks.profiles import PROFILE_NAMES, PROFILES

REPO = Path(__file__).resolve().parent.parent
PROGRAM = REPO / "stacks" / "__main__.py"
REDACTED = "REDACTED"
ENGINE_LABELS = {"app.kubernetes.io/managed-by": "pulumi"}
"""Labels the provider adds to every object it manages; the program's objects may lack them."""
ENGINE_ANNOTATION_PREFIX = "pulumi.com/"
"""Annotations under this prefix are the provider's bookkeeping (auto-naming, patch markers)."""


QUANTITY_KEYS = frozenset({"limits", "requests"})
"""Maps whose values are resource quantities (containers' and claims' ``resources``)."""
QUANTITY_FIELDS = frozenset({"sizeLimit"})
"""Fields that are themselves quantities (``emptyDir.sizeLimit``)."""
_SUFFIXES = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
    "m": Decimal("0.001"),
    "": Decimal(1),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m|)$")


class CheckError(RuntimeError):
    """One engine check failed; the message says which stack, what and why."""


@dataclass
class StackReport:
    """What the checks saw for one stack."""

    stack: str
    preview_seconds: float = 0.0
    up_seconds: float = 0.0
    preview_steps: dict[str, int] = field(default_factory=dict)
    resources_by_type: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    rendered_objects: int = 0
    engine_objects: int = 0
    problems: list[str] = field(default_factory=list)


def object_key(obj: Mapping[str, Any]) -> str:
    """``apiVersion/kind namespace/name``: what identifies an object in a cluster."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace", "")
    return f"{obj.get('apiVersion')}/{obj.get('kind')} {namespace}/{meta.get('name')}"


def quantity(text: str) -> str:
    """A resource quantity's value in base units: ``"1000m"``, ``"1"`` and ``"1e3m"`` agree."""
    match = _QUANTITY.match(text)
    if match is None:
        return text
    value = Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    return format(value.normalize(), "f")


def canonical(value: object, quantities: bool = False) -> object:
    """``value`` as the API server would read it back, in one spelling.

    The provider writes what it sends: quantities in canonical form (``1000m`` becomes ``1``,
    ``1024Mi`` becomes ``1Gi``) and no empty lists or maps (Kubernetes treats an empty collection
    and an absent field alike). Both sides go through this before they are compared.
    ``quantities`` says that ``value`` is a map of quantities, such as ``limits``.
    """
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if not isinstance(value, dict):
        return value
    items = {
        key: quantity(item)
        if isinstance(item, str) and (quantities or key in QUANTITY_FIELDS)
        else canonical(item, key in QUANTITY_KEYS)
        for key, item in value.items()
    }
    return {key: item for key, item in items.items() if item not in ({}, [])}


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy in :func:`canonical` form, without what only the engine fills, Secrets redacted.

    Secret values differ by design: the engine writes the stack's real secrets, the offline
    render placeholders. Which keys a Secret holds must still agree.
    """
    copy: dict[str, Any] = json.loads(json.dumps(obj))
    meta = copy.get("metadata") or {}
    labels = meta.get("labels") or {}
    for key, value in ENGINE_LABELS.items():
        if labels.get(key) == value:
            del labels[key]
    annotations = meta.get("annotations") or {}
    for key in [k for k in annotations if k.startswith(ENGINE_ANNOTATION_PREFIX)]:
        del annotations[key]
    if copy.get("kind") == "Secret":
        values: dict[str, Any] = {}
        for section in ("data", "stringData"):
            values.update(copy.pop(section, None) or {})
        if values:
            copy["data"] = dict.fromkeys(sorted(values), REDACTED)
    return cast(dict[str, Any], canonical(copy))


def load_objects(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Every object in these YAML files, normalized, by :func:`object_key`."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(paths):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                key = object_key(document)
                if key in objects:
                    raise CheckError(f"{path}: {key} appears twice")
                objects[key] = normalize(document)
    return objects


def _differences(path: str, engine: object, offline: object) -> list[str]:
    """Where two JSON-like values differ, one line per differing leaf."""
    if isinstance(engine, dict) and isinstance(offline, dict):
        return [
            line
            for key in sorted(set(engine) | set(offline))
            for line in _differences(f"{path}.{key}", engine.get(key), offline.get(key))
        ]
    if isinstance(engine, list) and isinstance(offline, list) and len(engine) == len(offline):
        return [
            line
            for index, (left, right) in enumerate(zip(engine, offline, strict=True))
            for line in _differences(f"{path}[{index}]", left, right)
        ]
    if engine != offline:
        return [f"{path}: engine {json.dumps(engine)} != offline {json.dumps(offline)}"]
    return []


def compare_manifests(
    engine: Mapping[str, Mapping[str, Any]], offline: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Every difference between the engine's and the offline render's objects, empty if none."""
    lines = [f"{key}: only the engine wrote it" for key in sorted(set(engine) - set(offline))]
    lines += [
        f"{key}: only the offline render has it" for key in sorted(set(offline) - set(engine))
    ]
    for key in sorted(set(engine) & set(offline)):
        lines += [f"{key} {line}" for line in _differences("", engine[key], offline[key])]
    return lines


class Backend:
    """A throwaway Pulumi home, file backend and copy of the project, used through the CLI."""

    def __init__(self, root: Path, cli: str) -> None:
        self.root = root
        self.cli = cli
        self.work = root / "project"
        self.work.mkdir()
        # Stack init writes the passphrase salt into Pulumi.<stack>.yaml: work on copies.
        for name in ["Pulumi.yaml", *(f"Pulumi.{stack}.yaml" for stack in PROFILE_NAMES)]:
            shutil.copy2(REPO / name, self.work / name)
        (self.work / "stacks").symlink_to(
            PROGRAM.parent
        )  # Pulumi.yaml's `main`, checked by the CLI
        (root / "state").mkdir()
        self.env = {
            "PULUMI_HOME": str(root / "home"),
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        }
        self.pulumi("login", f"file://{root / 'state'}")

    def pulumi(self, *args: str, stdin: str = "") -> str:
        """Run ``pulumi ARGS`` in the project copy; a failure raises with the CLI's own words."""
        result = subprocess.run(  # noqa: S603  # fixed argv, no shell
            [self.cli, *args, "--non-interactive"],
            cwd=self.work,
            env={**os.environ, **self.env},
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CheckError(f"pulumi {' '.join(args[:3])} failed:\n{result.stderr.strip()}")
        return result.stdout

    def init_stack(self, stack: str, render_dir: Path) -> None:
        self.pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
        for key in SECRET_KEYS:
            # On stdin, not argv: a secret on a command line is visible to every process.
            value = secrets.token_urlsafe(36)
            self.pulumi(
                "config", "set", "--secret", "--stack", stack, f"{PROJECT}:{key}", stdin=value
            )
        self.pulumi(
            "config", "set", "--stack", stack, "kubernetes:renderYamlToDirectory", str(render_dir)
        )
        if "appImage" not in PROFILES[stack]:
            # As a user names their image: the stack files leave it to them.
            self.pulumi("config", "set", "--stack", stack, f"{PROJECT}:appImage", EXAMPLE_APP_IMAGE)

    def stack(self, name: str) -> auto.Stack:
        """The stack, running ``stacks/__main__.py`` in this process (see the module doc)."""

        def program() -> None:
            runpy.run_path(str(PROGRAM), run_name="__main__")

        return auto.select_stack(
            stack_name=name,
            project_name=PROJECT,
            program=program,
            opts=auto.LocalWorkspaceOptions(work_dir=str(self.work), env_vars=self.env),
        )


class EventLog:
    """The engine events of one operation: steps by operation and type, and error diagnostics."""

    def __init__(self) -> None:
        self.steps: Counter[str] = Counter()
        self.types: Counter[str] = Counter()
        self.errors: list[str] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            metadata = event.resource_pre_event.metadata
            self.steps[str(metadata.op.value)] += 1
            self.types[metadata.type] += 1
        if event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
            self.errors.append(event.diagnostic_event.message.strip())


def offline_render(stack: str, out: Path, project: Path) -> dict[str, dict[str, Any]]:
    """``todo-infra render``'s objects for the stack file in ``project``, as its users run it."""
    command = [str(REPO / ".venv" / "bin" / "todo-infra"), "render", "--stack", stack]
    subprocess.run(  # noqa: S603  # fixed argv, no shell
        [*command, "--out", str(out), "--project-dir", str(project)],
        check=True,
        capture_output=True,
    )
    return load_objects(p for p in out.glob("*.yaml") if p.name != "all.yaml")


def expect(report: StackReport, condition: bool, problem: str) -> None:
    if not condition:
        report.problems.append(problem)


def operate(report: StackReport, name: str, action: Callable[[], object], log: EventLog) -> float:
    """Run a stack operation and time it; a failure becomes a problem with the CLI's words."""
    started = time.monotonic()
    try:
        action()
    except auto.errors.CommandError as error:
        report.problems.append(f"pulumi {name} failed: {error}")
    report.errors += log.errors
    expect(report, not log.errors, f"pulumi {name} reported errors: {log.errors}")
    return round(time.monotonic() - started, 1)


def check_stack(backend: Backend, stack: str) -> StackReport:
    report = StackReport(stack)
    engine_dir = backend.root / "engine" / stack
    backend.init_stack(stack, engine_dir)
    offline = offline_render(stack, backend.root / "offline" / stack, backend.work)
    report.rendered_objects = len(offline)
    target = backend.stack(stack)

    preview = EventLog()
    report.preview_seconds = operate(
        report, "preview", lambda: target.preview(on_event=preview), preview
    )
    report.preview_steps = dict(preview.steps)
    report.resources_by_type = dict(sorted(preview.types.items()))
    objects = sum(n for t, n in preview.types.items() if t.startswith("kubernetes:"))
    expect(
        report,
        set(preview.steps) == {"create"},
        f"preview of a new stack should only create, got {dict(preview.steps)}",
    )
    expect(
        report,
        objects == len(offline),
        f"preview has {objects} Kubernetes resources, todo-infra render {len(offline)} objects",
    )
    if report.problems:
        return report

    up = EventLog()
    report.up_seconds = operate(report, "up", lambda: target.up(on_event=up), up)
    engine = load_objects(engine_dir.rglob("*.yaml"))
    report.engine_objects = len(engine)
    report.problems += compare_manifests(engine, offline)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pulumi-ci", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", action="append", choices=PROFILE_NAMES, help="default: all")
    parser.add_argument("--report", type=Path, help="also write the reports here as JSON")
    parser.add_argument("--keep", type=Path, help="work in this new directory and keep it")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("pulumi", "pulumi-resource-kubernetes") if not shutil.which(tool)]
    if missing:
        print(
            f"pulumi-ci: {', '.join(missing)} not on PATH; run\n"
            '  export PATH="$(scripts/pulumi-toolchain | tail -n 1):$PATH"',
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="pulumi-ci-") as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=args.keep is None)
        backend = Backend(root, str(shutil.which("pulumi")))
        reports = [check_stack(backend, stack) for stack in args.stack or PROFILE_NAMES]
    for report in reports:
        print(
            f"{report.stack}: preview {report.preview_seconds} s, "
            f"{sum(report.resources_by_type.values())} resources "
            f"({report.rendered_objects} Kubernetes objects), {len(report.errors)} errors; "
            f"up {report.up_seconds} s, {report.engine_objects} manifests written, "
            f"{len(report.problems)} problems"
        )
        for line in report.problems:
            print(f"  {line}")
    if args.report:
        args.report.write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
    failed = [r.stack for r in reports if r.problems]
    print(f"pulumi-ci: {'FAILED: ' + ', '.join(failed) if failed else 'all stacks agree'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
