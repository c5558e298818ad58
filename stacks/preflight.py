"""Checks ``todo-infra`` makes before it starts the engine, each failing with one line.

A check here replaces a wall of engine errors after half the stack was created with one
sentence that says what is missing and how to get it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.cluster import NoCluster
from infra.dapr.resources import CRDS as DAPR_CRDS
from infra.monitoring import CRDS as MONITORING_CRDS
from stacks.config import PROJECT, SECRET_KEYS, StackConfig, stack_config
from stacks.render import stack_file_settings, with_placeholders

CrdLookup = Callable[[tuple[str, ...]], set[str]]
"""Which of these CustomResourceDefinitions the cluster serves."""


class PreflightError(RuntimeError):
    """A reason not to start the engine, in one line."""


def validated_config(stack_file: Path) -> StackConfig:
    """The stack file's settings, validated (secrets stand-ins: the engine holds the real ones).

    Raises ``StackConfigError`` naming the key, as the program would, but before the engine.
    """
    settings, secret_keys = stack_file_settings(stack_file)
    return stack_config(*with_placeholders(settings, secret_keys))


def missing_secrets(config: dict[str, object], secret: Iterable[str]) -> list[str]:
    """The required secret keys absent from a stack's config or not stored as secrets."""
    stored = set(secret)
    return [
        f"{PROJECT}:{key}"
        for key in SECRET_KEYS
        if f"{PROJECT}:{key}" not in config or f"{PROJECT}:{key}" not in stored
    ]


def require_secrets(stack: str, config: dict[str, object], secret: Iterable[str]) -> None:
    missing = missing_secrets(config, secret)
    if missing:
        commands = "; ".join(
            f"pulumi config set --secret --stack {stack} {key} <value>" for key in missing
        )
        raise PreflightError(f"stack {stack} lacks the secret(s) {', '.join(missing)}: {commands}")


@dataclass(frozen=True)
class CrdNeed:
    """CRDs the stack's objects need from an installation the stack does not make."""

    owner: str
    crds: tuple[str, ...]
    remedy: str


def required_crds(config: StackConfig) -> list[CrdNeed]:
    """The CRDs that must already exist: Dapr's when the stack uses Dapr, the Prometheus
    Operator's when it monitors, each unless the stack installs the add-on (its objects then
    wait for the add-on instead)."""
    needs: list[CrdNeed] = []
    if config.dapr.enabled and not config.addons.dapr.enabled:
        needs.append(
            CrdNeed(
                "Dapr",
                DAPR_CRDS,
                "install Dapr (its Helm chart or `dapr init -k`), or set "
                f"{PROJECT}:addons.dapr.enabled=true to install it with the stack, or "
                f"{PROJECT}:dapr.enabled=false",
            )
        )
    if config.monitoring.enabled and not config.addons.kube_prometheus_stack.enabled:
        needs.append(
            CrdNeed(
                "Prometheus Operator",
                MONITORING_CRDS,
                "install the Prometheus Operator, or set "
                f"{PROJECT}:addons.kubePrometheusStack.enabled=true to install it with the "
                f"stack, or {PROJECT}:monitoring.enabled=false",
            )
        )
    return needs


def require_crds(config: StackConfig, lookup: CrdLookup) -> None:
    """Refuse, naming every missing CRD, when the cluster lacks one the stack's objects need."""
    needs = required_crds(config)
    if not needs:
        return
    # A cluster the stack creates has none yet: nothing to ask.
    wanted = tuple(name for need in needs for name in need.crds)
    present = lookup(wanted) if isinstance(config.cluster, NoCluster) else set()
    problems = []
    for need in needs:
        missing = [name for name in need.crds if name not in present]
        if missing:
            problems.append(
                f"the cluster lacks the {need.owner} CRDs {', '.join(missing)}: {need.remedy}"
            )
    if problems:
        raise PreflightError("; ".join(problems))


def kubectl_argv(config: StackConfig) -> list[str]:
    """``kubectl`` with the kubeconfig and context the stack's provider uses."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise PreflightError("kubectl is not on PATH: todo-infra needs it to ask the cluster")
    cluster = config.cluster
    argv = [kubectl]
    if isinstance(cluster, NoCluster) and cluster.kubeconfig:
        argv += ["--kubeconfig", cluster.kubeconfig]
    if isinstance(cluster, NoCluster) and cluster.context:
        argv += ["--context", cluster.context]
    return argv


def run_kubectl(argv: list[str], what: str, stdin: str | None = None) -> str:
    """kubectl's output; its failure as one line saying what could not be done, and why."""
    result = subprocess.run(  # noqa: S603  # fixed argv, no shell
        argv, input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PreflightError(f"cannot {what} with kubectl: {reason}")
    return result.stdout


def kubectl_crds(config: StackConfig) -> CrdLookup:
    """A lookup asking the stack's cluster through ``kubectl`` (the context the provider uses)."""

    def lookup(names: tuple[str, ...]) -> set[str]:
        argv = [*kubectl_argv(config), "get", "crd", *names, "--ignore-not-found", "-o", "name"]
        output = run_kubectl(argv, "list the cluster's CRDs")
        return {line.rsplit("/", 1)[-1] for line in output.split()}

    return lookup
