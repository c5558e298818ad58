"""``todo-infra preview|up|refresh|destroy --stack S [--local] [--json FILE]``.

The program runs inline through Pulumi's Automation API: the SDK serves the language runtime in
this process and the Pulumi CLI connects to it, so the same command works with the CLI from
Pulumi's installer and with the one ``scripts/pulumi-toolchain`` builds from source (which has
no Python language host). The engine, state, secrets and provider are Pulumi's own.

Without ``--local`` it acts like ``pulumi <operation>`` in the checkout: the current backend
(``pulumi login``), the stack's ``Pulumi.<stack>.yaml`` and its secrets, the kube context the
stack names. With ``--local`` it deploys onto the local control plane (``todo-infra local``),
starting it when needed, with its own backend and generated secrets (:mod:`stacks.local_target`).

Before ``preview`` and ``up`` it checks what the stack needs from the cluster
(:mod:`stacks.prerequisites`, also listed by ``todo-infra doctor``) and refuses while something
is missing. The engine's progress streams to the terminal and the stack outputs are printed at
the end; ``--json FILE`` also writes what changed, the outputs and the engine's warnings and errors.
Exit codes: 0 done, 1 the engine failed (its diagnostics are shown), 2 bad input (one line).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from stacks.config import PROJECT, StackConfigError
from stacks.local.cluster import ensure_started
from stacks.local_target import LocalTarget, state_dir
from stacks.preflight import (
    KubectlCluster,
    PreflightError,
    kubectl_argv,
    require_secrets,
    validated_config,
)
from stacks.prerequisites import require_prerequisites
from stacks.program import run
from stacks.recovery import LiveLookup, RecoveryError, adopt, kubectl_lookup

OPERATIONS: tuple[str, ...] = ("preview", "up", "refresh", "destroy")
CHANGE_KINDS: tuple[str, ...] = ("create", "update", "replace", "delete", "same")
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
SECRET_SHOWN = "[secret]"  # noqa: S105 - shown instead of a secret value  # noqa: S105 - what is printed instead of one
QUIET_STEPS = frozenset({auto.OpType.SAME, auto.OpType.REFRESH, auto.OpType.READ})
"""Steps that change nothing (a refresh's drift shows in its summary instead)."""


def add_commands(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Register the four operations on ``todo-infra``'s sub-command parser."""
    helps = {
        "preview": "show what `up` would change",
        "up": "create or update the stack's resources",
        "refresh": "read the resources back from the cluster and record any drift",
        "destroy": "delete every resource of the stack",
    }
    for operation in OPERATIONS:
        parser = commands.add_parser(operation, help=helps[operation])
        parser.add_argument("--stack", required=True, help="dev, staging, prod, ...")
        parser.add_argument(
            "--local",
            action="store_true",
            help="deploy onto the local control plane (started when needed), own state",
        )
        parser.add_argument("--json", type=Path, help="also write the result as JSON here")
        if operation == "up":
            parser.add_argument(
                "--recover",
                action="store_true",
                help="after an interrupted run: drop a stale lock, adopt the objects it created",
            )


class DeployError(RuntimeError):
    """Bad input or a missing prerequisite: one line, exit code 2."""


@dataclass
class EngineLog:
    """What the engine reported: warnings and errors, with the resource they are about."""

    diagnostics: list[dict[str, str]] = field(default_factory=list)
    steps: list[dict[str, str]] = field(default_factory=list)
    """Every resource step that changes something (``op``, ``urn``): what exactly changed."""

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op not in QUIET_STEPS:
            self.steps.append({"op": str(pre.metadata.op.value), "urn": pre.metadata.urn})
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity in ("warning", "error"):
            self.diagnostics.append(
                {
                    "severity": diagnostic.severity,
                    "urn": diagnostic.urn or "",
                    "message": diagnostic.message.strip(),
                }
            )

    def errors(self) -> list[str]:
        return [d["message"] for d in self.diagnostics if d["severity"] == "error"]


@dataclass(frozen=True)
class Workspace:
    """Where the stack lives and how the CLI is run for it."""

    stack: str
    work_dir: Path
    stack_file: Path
    env: dict[str, str]
    kubeconfig: Path | None = None


def _echo(line: str) -> None:
    print(line, flush=True)


def pulumi_on_path(project: Path) -> None:
    """Unless both are on PATH already, put the pinned Pulumi CLI and Kubernetes provider there
    with ``scripts/pulumi-toolchain`` (it uses an installed CLI that fits, else builds one)."""
    script = project / "scripts" / "pulumi-toolchain"
    if shutil.which("pulumi") and shutil.which("pulumi-resource-kubernetes"):
        return
    if not script.is_file():
        raise DeployError(
            "pulumi and pulumi-resource-kubernetes are not on PATH (see docs/pulumi.md)"
        )
    _prepend_tool_folder(script)


def _prepend_tool_folder(script: Path) -> None:
    """Run a toolchain script (progress on stderr) and put the folder it prints on PATH."""
    result = subprocess.run(  # noqa: S603  # our own script, no shell
        [str(script)], stdout=subprocess.PIPE, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise DeployError(f"{script.name} failed (exit {result.returncode}); see its output above")
    os.environ["PATH"] = f"{lines[-1]}{os.pathsep}{os.environ.get('PATH', '')}"


def local_workspace(stack: str, project: Path) -> Workspace:
    """Start the local control plane if needed and prepare the stack's local workspace."""
    toolchain = project / "scripts" / "k8s-toolchain"
    if toolchain.is_file():
        _prepend_tool_folder(toolchain)  # kubectl, for the CRD check and for the user
    cluster = ensure_started()
    target = LocalTarget(state_dir())
    target.write_stack_file(stack, project / f"Pulumi.{stack}.yaml", cluster.kubeconfig)
    return Workspace(
        stack=stack,
        work_dir=target.work_dir,
        stack_file=target.work_dir / f"Pulumi.{stack}.yaml",
        env=target.env(cluster.kubeconfig),
        kubeconfig=cluster.kubeconfig,
    )


def open_stack(workspace: Workspace, *, local: bool) -> auto.Stack:
    """The Automation API stack with the program inline.

    Locally the stack is created on first use and its missing secrets generated; otherwise it
    must exist in the current backend with its secrets set, as for ``pulumi up``.
    """

    def program() -> None:
        run()

    opts = auto.LocalWorkspaceOptions(
        work_dir=str(workspace.work_dir),
        env_vars={
            **workspace.env,
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        },
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python") if local else None,
    )
    if local:
        stack = auto.create_or_select_stack(
            stack_name=workspace.stack, project_name=PROJECT, program=program, opts=opts
        )
        generated = LocalTarget.add_missing_secrets(stack)
        if generated:
            print(f"generated and stored as Pulumi secrets: {', '.join(generated)}", flush=True)
        return stack
    try:
        stack = auto.select_stack(
            stack_name=workspace.stack, project_name=PROJECT, program=program, opts=opts
        )
    except auto.errors.StackNotFoundError:
        raise DeployError(
            f"stack {workspace.stack} does not exist in the current Pulumi backend: "
            f"`pulumi stack init {workspace.stack}` and set its secrets (README), or use --local"
        ) from None
    config = stack.get_all_config()
    require_secrets(
        workspace.stack,
        dict(config),
        (key for key, value in config.items() if value.secret),
    )
    return stack


def recover(stack: auto.Stack, lookup: LiveLookup) -> None:
    """Make an interrupted stack usable again: cancel its stale lock, adopt the objects the
    killed run created (:mod:`stacks.recovery`), then refresh, which reads them in full and
    drops the other pending operations."""
    try:
        stack.cancel()
    except auto.errors.CommandError as error:
        # No lock to cancel is the normal case; anything else is reported by the refresh.
        print(f"recover: {str(error).strip().splitlines()[-1]}", flush=True)
    exported = stack.export_stack()
    state, adoption = adopt(exported.deployment or {}, lookup)
    if adoption.adopted or adoption.dropped:
        stack.import_stack(auto.Deployment(version=exported.version, deployment=state))
    print(
        f"recover: adopted {len(adoption.adopted)} object(s) the interrupted run created,"
        f" dropped {len(adoption.dropped)} pending create(s) it never made",
        flush=True,
    )
    stack.refresh(on_output=_echo)


def _changes(summary: Mapping[auto.OpType, int] | Mapping[str, int] | None) -> dict[str, int]:
    """Counts for :data:`CHANGE_KINDS` (previews key them by ``OpType``, updates by text)."""
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    for kind, count in (summary or {}).items():
        name = kind.value if isinstance(kind, auto.OpType) else kind
        if name in counts:
            counts[name] += count
    return counts


def _outputs(outputs: Mapping[str, auto.OutputValue]) -> dict[str, object]:
    return {key: SECRET_SHOWN if value.secret else value.value for key, value in outputs.items()}


def operate(stack: auto.Stack, operation: str, log: EngineLog) -> dict[str, int]:
    """Run one operation, streaming the engine's output; what it changed, by kind."""
    common: dict[str, Any] = {"on_output": _echo, "on_event": log}
    if operation == "preview":
        return _changes(stack.preview(**common).change_summary)
    if operation == "up":
        summary = stack.up(**common).summary
    elif operation == "refresh":
        summary = stack.refresh(**common).summary
    else:
        summary = stack.destroy(**common).summary
    return _changes(summary.resource_changes)


def _write_json(path: Path | None, report: dict[str, object]) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _last_error(error: auto.errors.CommandError) -> str:
    """The CLI's own ``error:`` line from a failed command (its full stderr otherwise)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    marked = [line for line in lines if line.startswith("error:")]
    return (marked or lines or ["no output"])[-1].removeprefix("error:").strip()


def deploy(args: argparse.Namespace, project: Path) -> int:
    """Run ``args.command`` for ``args.stack``; the exit code."""
    started = time.monotonic()
    tracked = project / f"Pulumi.{args.stack}.yaml"
    report: dict[str, object] = {"stack": args.stack, "operation": args.command}
    log = EngineLog()
    try:
        if not tracked.is_file():
            raise DeployError(f"unknown stack {args.stack!r}: {tracked} not found")
        pulumi_on_path(project)
        workspace = (
            local_workspace(args.stack, project)
            if args.local
            else Workspace(args.stack, project, tracked, env={})
        )
        config = validated_config(workspace.stack_file)
        stack = open_stack(workspace, local=args.local)
        if args.command in ("preview", "up"):
            require_prerequisites(config, KubectlCluster(config))
        if getattr(args, "recover", False):
            recover(stack, kubectl_lookup(kubectl_argv(config)))
        changes = operate(stack, args.command, log)
        outputs = _outputs(stack.outputs()) if args.command != "destroy" else {}
    except StackConfigError as error:
        print(f"error: {args.stack}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DeployError, PreflightError, RecoveryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except auto.errors.CommandError as error:
        reason = _last_error(error)
        report.update(ok=False, error=reason, diagnostics=log.diagnostics, steps=log.steps)
        report["seconds"] = round(time.monotonic() - started, 1)
        _write_json(args.json, report)
        hint = ""
        # The engine puts "currently locked" on one line and the lock file on the last one.
        if any(sign in str(error) for sign in ("locked", "/locks/", "pending", "interrupted")):
            hint = f" (after an interrupted run: todo-infra up --stack {args.stack} --recover)"
        print(
            f"error: pulumi {args.command} of stack {args.stack} failed: {reason}{hint}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    seconds = round(time.monotonic() - started, 1)
    report.update(
        ok=True,
        changes=changes,
        outputs=outputs,
        seconds=seconds,
        diagnostics=log.diagnostics,
        steps=log.steps,
    )
    if workspace.kubeconfig is not None:
        report["kubeconfig"] = str(workspace.kubeconfig)
    _write_json(args.json, report)
    print(f"\n{args.command} of stack {args.stack}: {changes} in {seconds} s")
    for key, value in outputs.items():
        print(f"  {key}: {json.dumps(value)}")
    if workspace.kubeconfig is not None:
        namespace = outputs.get("namespace", "<namespace>")
        print(f"  kubeconfig: {workspace.kubeconfig}")
        print(f"  try: kubectl --kubeconfig {workspace.kubeconfig} -n {namespace} get all,pvc")
    return 0
