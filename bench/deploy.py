"""What ``todo-infra`` costs over plain kubectl, and what the local control plane costs, in one run.

On a control plane of its own (a private state folder and free ports, so a control plane the
user runs is never touched), for each stack given (dev, staging and prod by default):

- the baseline: ``kubectl apply --server-side -f all.yaml`` of the stack's render
  (``todo-infra render``), then ``kubectl rollout status`` of every Deployment and StatefulSet
  and ``kubectl wait`` for the Job (what the provider's awaits wait for), then the same apply
  again (nothing to change) and ``kubectl delete --wait -f all.yaml``;
- ``todo-infra up --stack S --local`` from empty, a second ``up`` (no changes) and ``destroy``,
  each as a user runs it (Pulumi's engine, the program run inline, the provider's awaits).

And the control plane's own figures: ``scripts/k8s-toolchain`` with its cache present (warm
build), ``todo-infra local start`` of that private control plane (until ``/readyz`` answers and
the nodes are Ready) and, with ``--cold-build`` only, the toolchain built into an empty
temporary cache (tens of minutes on 2 cores).

The figures are seconds of wall time and, per stack, their ratios to the baseline, the number to
compare between machines (both sides share the machine's speed and load):

    .venv/bin/python -m bench.deploy --json bench/results/deploy.json [--stack dev ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from stacks.local.cluster import status, stop
from stacks.local.errors import LocalClusterError
from stacks.local.settings import ClusterSettings
from stacks.render import ALL_FILE
from tests.deploy.harness import STACKS, TODO_INFRA, Project

REPO = Path(__file__).resolve().parent.parent
K8S_TOOLCHAIN = REPO / "scripts" / "k8s-toolchain"
WAIT_TIMEOUT = "600s"
"""kubectl's own guard on each wait: far above what any of them takes."""
OPERATIONS = ("up_s", "noop_up_s", "down_s")


class BenchError(RuntimeError):
    """A step that failed, in one line."""


def _run(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # fixed argv, no shell
        list(argv), capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise BenchError(f"{' '.join(argv[:4])} ... failed: {' | '.join(tail)}")
    return result.stdout


def _timed(*commands: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Seconds to run the commands one after another."""
    started = time.monotonic()
    for argv in commands:
        _run(argv, env)
    return round(time.monotonic() - started, 2)


def _toolchain_folder(script: str) -> str:
    return _run([str(REPO / "scripts" / script)]).strip().splitlines()[-1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stack",
        dest="stacks",
        action="append",
        choices=STACKS,
        help=f"a stack to measure; repeat for more (default: {', '.join(STACKS)})",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--cold-build",
        action="store_true",
        help="also build the control plane into an empty temporary cache and time it"
        " (tens of minutes of every core)",
    )
    args = parser.parse_args(argv)
    args.stacks = args.stacks or list(STACKS)
    repeated = sorted({stack for stack in args.stacks if args.stacks.count(stack) > 1})
    if repeated:
        parser.error(f"--stack {', '.join(repeated)} given more than once")
    return args


def waits(kubectl: list[str], manifests: list[dict[str, Any]]) -> list[list[str]]:
    """The commands that wait for what the provider awaits after creating each object."""
    commands = []
    for obj in manifests:
        kind, meta = obj["kind"], obj["metadata"]
        where = ["-n", meta["namespace"]] if meta.get("namespace") else []
        name = f"{kind.lower()}/{meta['name']}"
        if kind in ("Deployment", "StatefulSet"):
            commands.append(
                [*kubectl, *where, "rollout", "status", name, f"--timeout={WAIT_TIMEOUT}"]
            )
        elif kind == "Job":
            commands.append(
                [
                    *kubectl,
                    *where,
                    "wait",
                    "--for=condition=complete",
                    name,
                    f"--timeout={WAIT_TIMEOUT}",
                ]
            )
    return commands


def baseline(kubectl: list[str], render_dir: Path) -> dict[str, float]:
    """kubectl's figures for the rendered stack: apply and wait, apply again, delete."""
    all_yaml = render_dir / ALL_FILE
    manifests = [doc for doc in yaml.safe_load_all(all_yaml.read_text(encoding="utf-8")) if doc]
    apply = [*kubectl, "apply", "--server-side", "-f", str(all_yaml)]
    then = waits(kubectl, manifests)
    return {
        "objects": len(manifests),
        "up_s": _timed(apply, *then),
        "noop_up_s": _timed(apply, *then),
        "down_s": _timed(
            [*kubectl, "delete", "--wait", f"--timeout={WAIT_TIMEOUT}", "-f", str(all_yaml)]
        ),
    }


def todo_infra(project: Project, stack: str) -> dict[str, Any]:
    """``todo-infra``'s figures for the stack: up from empty, a no-op up, destroy."""
    figures: dict[str, Any] = {}
    for key, operation in zip(OPERATIONS, ("up", "up", "destroy"), strict=True):
        started = time.monotonic()
        run = project.todo_infra(operation, stack)
        figures[key] = round(time.monotonic() - started, 2)
        if run.code != 0:
            tail = run.output.strip().splitlines()[-5:]
            raise BenchError(f"todo-infra {operation} --stack {stack} failed: {' | '.join(tail)}")
        figures[key.replace("_s", "_changes")] = run.changes
    if any(n for kind, n in figures["noop_up_changes"].items() if kind != "same"):
        raise BenchError(f"the second up changed something: {figures['noop_up_changes']}")
    return figures


def stack_figures(
    render_s: float, kubectl: dict[str, float], ours: dict[str, Any]
) -> dict[str, Any]:
    """One stack's part of the report: both sides and ``todo-infra ÷ kubectl`` per operation."""
    return {
        "render_s": render_s,
        "kubectl": kubectl,
        "todo_infra": ours,
        "ratio": {key: round(ours[key] / kubectl[key], 2) for key in OPERATIONS},
    }


def measure_stack(
    stack: str, project: Project, kubectl: list[str], render_dir: Path
) -> dict[str, Any]:
    """The baseline, then ``todo-infra``, for one stack on the same control plane."""
    render_s = _timed(
        [
            str(TODO_INFRA),
            "render",
            "--stack",
            stack,
            "--out",
            str(render_dir),
            "--project-dir",
            str(project.root),
        ]
    )
    kubectl_figures = baseline(kubectl, render_dir)
    return stack_figures(render_s, kubectl_figures, todo_infra(project, stack))


def _remove(folder: Path) -> None:
    """Remove ``folder``, Go's module cache included, whose folders Go makes read-only."""
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(0o700)
    shutil.rmtree(folder, ignore_errors=True)


def cold_build() -> float:
    """Seconds to build the toolchain into an empty cache: the script keeps ``GOMODCACHE`` and
    ``GOCACHE`` inside ``TODO_K8S_CACHE``, so nothing of the user's cache is reused."""
    cache = Path(tempfile.mkdtemp(prefix="todo-bench-k8s-cache-"))
    print(f"cold build of the control plane into {cache} (tens of minutes)", file=sys.stderr)
    try:
        return _timed([str(K8S_TOOLCHAIN)], env={**os.environ, "TODO_K8S_CACHE": str(cache)})
    finally:
        _remove(cache)


def report(
    kubernetes: str, control_plane: dict[str, float | None], stacks: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "kubernetes": kubernetes,
        "control_plane": control_plane,
        "stacks": stacks,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="todo-bench-deploy-"))
    settings: ClusterSettings | None = None
    try:
        cold_build_s = cold_build() if args.cold_build else None
        # Built first when absent, so the timed run below is a warm one.
        path = os.pathsep.join(
            [
                _toolchain_folder("pulumi-toolchain"),
                _toolchain_folder("k8s-toolchain"),
                os.environ["PATH"],
            ]
        )
        warm_build_s = _timed([str(K8S_TOOLCHAIN)])
        settings = ClusterSettings.private(work / "cluster")
        private = {"PATH": path, **settings.environ()}
        start_s = _timed([str(TODO_INFRA), "local", "start"], env={**os.environ, **private})
        cluster = status(settings)
        if cluster is None:
            raise BenchError(f"the control plane in {settings.state_dir} stopped after its start")
        kubectl = [
            shutil.which("kubectl", path=path) or "kubectl",
            "--kubeconfig",
            str(cluster.kubeconfig),
        ]
        project = Project(work / "project", work / "state")
        project.env.update(private)
        stacks = {
            stack: measure_stack(stack, project, kubectl, work / "render" / stack)
            for stack in args.stacks
        }
    except (BenchError, LocalClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        # Everything measured lived on this control plane, so stopping it leaves nothing behind.
        if settings is not None:
            stop(settings)
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(
        report(
            cluster.version,
            {"warm_build_s": warm_build_s, "start_s": start_s, "cold_build_s": cold_build_s},
            stacks,
        ),
        indent=2,
    )
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
