"""What ``todo-infra`` costs over plain kubectl, on the local control plane, in one run.

For one stack (dev by default) it measures, on the same control plane and in the same run:

- the baseline: ``kubectl apply --server-side -f all.yaml`` of the stack's render
  (``todo-infra render``), then ``kubectl rollout status`` of every Deployment and StatefulSet
  and ``kubectl wait`` for the Job (what the provider's awaits wait for), then the same apply
  again (nothing to change) and ``kubectl delete --wait -f all.yaml``;
- ``todo-infra up --stack S --local`` from empty, a second ``up`` (no changes) and ``destroy``,
  each as a user runs it (Pulumi's engine, the program run inline, the provider's awaits).

The figures are seconds of wall time and their ratios to the baseline, the number to compare
between machines (both sides share the machine's speed and load):

    .venv/bin/python -m bench.deploy --json bench/results/deploy.json

It uses the running local control plane (``todo-infra local``; started, and stopped again, when
none runs) and its own Pulumi state in a temporary folder, and refuses to start when the
stack's namespace already exists there.
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

from stacks.local.cluster import ensure_started
from stacks.render import ALL_FILE

REPO = Path(__file__).resolve().parent.parent
TODO_INFRA = REPO / ".venv" / "bin" / "todo-infra"
WAIT_TIMEOUT = "600s"
"""kubectl's own guard on each wait: far above what any of them takes."""


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


def _waits(kubectl: list[str], manifests: list[dict[str, Any]]) -> list[list[str]]:
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
    waits = _waits(kubectl, manifests)
    return {
        "objects": len(manifests),
        "up_s": _timed(apply, *waits),
        "noop_up_s": _timed(apply, *waits),
        "down_s": _timed(
            [*kubectl, "delete", "--wait", f"--timeout={WAIT_TIMEOUT}", "-f", str(all_yaml)]
        ),
    }


def todo_infra(stack: str, state: Path, path: str) -> dict[str, Any]:
    """``todo-infra``'s figures for the stack: up from empty, a no-op up, destroy."""
    env = {**os.environ, "TODO_DEPLOY_STATE": str(state), "PATH": path}
    figures: dict[str, Any] = {}
    for key, operation in (("up_s", "up"), ("noop_up_s", "up"), ("down_s", "destroy")):
        report = state / f"{key}.json"
        figures[key] = _timed(
            [str(TODO_INFRA), operation, "--stack", stack, "--local", "--json", str(report)],
            env=env,
        )
        changes = json.loads(report.read_text(encoding="utf-8"))["changes"]
        figures[key.replace("_s", "_changes")] = changes
    if any(n for kind, n in figures["noop_up_changes"].items() if kind != "same"):
        raise BenchError(f"the second up changed something: {figures['noop_up_changes']}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deploy", description=__doc__)
    parser.add_argument("--stack", default="dev", help="the stack to measure (default: dev)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    path = os.pathsep.join(
        [
            _toolchain_folder("pulumi-toolchain"),
            _toolchain_folder("k8s-toolchain"),
            os.environ["PATH"],
        ]
    )
    cluster = ensure_started()
    kubectl = [
        shutil.which("kubectl", path=path) or "kubectl",
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]
    work = Path(tempfile.mkdtemp(prefix="todo-bench-deploy-"))
    try:
        render_s = _timed(
            [str(TODO_INFRA), "render", "--stack", args.stack, "--out", str(work / "render")]
        )
        namespaces = [
            doc["metadata"]["name"]
            for doc in yaml.safe_load_all((work / "render" / ALL_FILE).read_text(encoding="utf-8"))
            if doc and doc["kind"] == "Namespace"
        ]
        taken = _run(
            [*kubectl, "get", "namespace", *namespaces, "--ignore-not-found", "-o", "name"]
        )
        if taken.strip():
            raise BenchError(f"{taken.strip()} exists on the control plane: destroy it first")
        kubectl_figures = baseline(kubectl, work / "render")
        ours = todo_infra(args.stack, work / "state", path)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        # Leave no half-measured stack behind: its namespace holds every object of it.
        all_yaml = work / "render" / ALL_FILE
        if all_yaml.is_file():
            subprocess.run(  # fixed argv, no shell
                [*kubectl, "delete", "--ignore-not-found", "-f", str(all_yaml)],
                capture_output=True,
                check=False,
            )
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not cluster.reused:
            cluster.stop()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "stack": args.stack,
        "kubernetes": cluster.version,
        "render_s": render_s,
        "kubectl": kubectl_figures,
        "todo_infra": ours,
        "ratio": {
            key: round(ours[key] / kubectl_figures[key], 2)
            for key in ("up_s", "noop_up_s", "down_s")
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
