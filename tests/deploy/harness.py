"""Drive ``todo-infra ... --local`` as a user does, from a copy of the project, and kubectl.

The copy holds the project and stack files (so a test can edit a setting, as a user edits
``Pulumi.<stack>.yaml``, without touching the checkout) and links to the checkout's scripts.
The local target's state (backend, passphrase, secrets) is the session's own folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stacks.config import PROJECT
from tests.deploy.engine_warnings import unexpected
from tests.infra.manifests import write_user_stack_file

REPO = Path(__file__).resolve().parents[2]
TODO_INFRA = REPO / ".venv" / "bin" / "todo-infra"
STACKS = ("dev", "staging", "prod")
OPERATION_TIMEOUT_S = 540
"""A guard, not a measure: far above a prod `up` (about a minute) and below pytest's 600 s."""


@dataclass(frozen=True)
class Run:
    """One ``todo-infra`` run: exit code, everything it printed and its ``--json`` report."""

    code: int
    output: str
    report: dict[str, Any]

    @property
    def changes(self) -> dict[str, int]:
        changes: dict[str, int] = self.report["changes"]
        return changes

    def changed(self) -> dict[str, str]:
        """Each changed resource's logical name and the step that changed it."""
        return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in self.report["steps"]}

    def require_clean(self) -> Run:
        """This run, after checking it succeeded with no warning outside the allow-list."""
        assert self.code == 0, f"todo-infra failed (exit {self.code}):\n{self.output[-6000:]}"
        problems = unexpected(self.report["diagnostics"])
        assert not problems, "engine diagnostics:\n" + "\n".join(problems)
        return self


class Project:
    """A copy of the project's Pulumi files and the commands run in it."""

    def __init__(self, root: Path, state: Path) -> None:
        self.root = root
        self.state = state
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
        for stack in STACKS:
            self.restore(stack)
        (root / "scripts").symlink_to(REPO / "scripts")
        self.env = {**os.environ, "TODO_DEPLOY_STATE": str(state)}

    def checkpoint(self, stack: str) -> dict[str, Any]:
        """The stack's state as the engine last wrote it to the local target's file backend
        (it writes it after every step, pending operations included); ``{}`` before the first."""
        path = self.state / "backend" / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}  # not written yet, or caught mid-write: the next look sees it
        latest: dict[str, Any] = document["checkpoint"].get("latest") or {}
        return latest

    def command(self, operation: str, stack: str, *extra: str) -> list[str]:
        return [str(TODO_INFRA), operation, "--stack", stack, "--local", *extra]

    def todo_infra(self, operation: str, stack: str, *extra: str) -> Run:
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            result = subprocess.run(  # fixed argv, no shell
                [*self.command(operation, stack, *extra), "--json", report.name],
                cwd=self.root,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=OPERATION_TIMEOUT_S,
                check=False,
            )
            text = Path(report.name).read_text(encoding="utf-8")
        return Run(
            result.returncode, result.stdout + result.stderr, json.loads(text) if text else {}
        )

    def set_setting(self, stack: str, key: str, value: object) -> None:
        """Set ``todo-evolution:<key>`` (a top-level key) in the copy's stack file."""
        path = self.root / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["config"][f"{PROJECT}:{key}"] = value
        path.write_text(yaml.safe_dump(document), encoding="utf-8")

    def restore(self, stack: str) -> None:
        """The checkout's stack file, with the image a user names where the profile has none."""
        write_user_stack_file(REPO / f"Pulumi.{stack}.yaml", self.root / f"Pulumi.{stack}.yaml")


class Kubectl:
    """kubectl on the local control plane."""

    def __init__(self, binary: str, kubeconfig: str) -> None:
        self.argv = [binary, "--kubeconfig", kubeconfig]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # fixed argv, no shell
            [*self.argv, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    def objects(self, namespace: str, kinds: str, *extra: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            self("get", kinds, "-n", namespace, "-o", "json", *extra).stdout
        )["items"]
        return items


def no_changes(run: Run) -> None:
    changed = {kind: n for kind, n in run.changes.items() if kind != "same" and n}
    assert not changed, f"expected no changes, got {changed}: {run.report['steps']}"


ROLLOUT_POLL_S = 2.0


def rolled_out(kubectl: Kubectl, namespace: str) -> None:
    """Every Deployment available and StatefulSet ready, the topics Job done, the claims
    bound, and every autoscaled Deployment at its HPA's minimum at least.

    ``up`` awaits each workload at the count it was created with; an HPA raises an autoscaled
    Deployment (created without ``replicas``, so at one pod) to its minimum only afterwards. So
    this waits for the namespace to settle, with a deadline that guards against a hang only.
    A Job the backup CronJob started (should its schedule fall within the test) is not the
    topics Job."""
    deadline = time.monotonic() + OPERATION_TIMEOUT_S
    while problems := _unsettled(kubectl, namespace):
        assert time.monotonic() < deadline, f"not rolled out in {OPERATION_TIMEOUT_S} s: {problems}"
        time.sleep(ROLLOUT_POLL_S)


def _unsettled(kubectl: Kubectl, namespace: str) -> list[str]:
    """What keeps the namespace from being rolled out, each named; empty once it is."""
    problems: list[str] = []
    deployments = {d["metadata"]["name"]: d for d in kubectl.objects(namespace, "deployments")}
    for name, deployment in deployments.items():
        status, want = deployment["status"], deployment["spec"]["replicas"]
        if status.get("availableReplicas") != want or status.get("updatedReplicas") != want:
            problems.append(f"deployment {name}: {status.get('availableReplicas')}/{want}")
    for hpa in kubectl.objects(namespace, "horizontalpodautoscalers"):
        target, least = hpa["spec"]["scaleTargetRef"]["name"], hpa["spec"].get("minReplicas", 1)
        if deployments[target]["spec"]["replicas"] < least:
            problems.append(f"deployment {target}: below its HPA's minimum {least}")
    for stateful in kubectl.objects(namespace, "statefulsets"):
        status, want = stateful["status"], stateful["spec"]["replicas"]
        if status.get("readyReplicas") != want:
            problems.append(f"statefulset {stateful['metadata']['name']}: not ready")
    topics = [
        job
        for job in kubectl.objects(namespace, "jobs")
        if not any(o["kind"] == "CronJob" for o in job["metadata"].get("ownerReferences", []))
    ]
    if len(topics) != 1 or topics[0]["status"].get("succeeded") != 1:
        problems.append(f"topics job: {[job['metadata']['name'] for job in topics]} not done")
    claims = kubectl.objects(namespace, "persistentvolumeclaims")
    if not claims or {c["status"]["phase"] for c in claims} != {"Bound"}:
        problems.append(f"claims: {[c['status']['phase'] for c in claims]}")
    return problems
