"""Checks ``todo-infra`` makes before it starts the engine, each failing with one line.

A check here replaces a wall of engine errors after half the stack was created with one
sentence that says what is missing and how to get it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.cluster import NoCluster
from stacks.config import PROJECT, SECRET_KEYS, StackConfig, stack_config
from stacks.render import stack_file_settings, with_placeholders


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


@dataclass(frozen=True)
class KubectlCluster:
    """The stack's cluster, asked through ``kubectl`` with the context the provider uses."""

    config: StackConfig

    def crds(self, names: tuple[str, ...]) -> set[str]:
        argv = [*kubectl_argv(self.config), "get", "crd", *names, "--ignore-not-found"]
        output = run_kubectl([*argv, "-o", "name"], "list the cluster's CRDs")
        return {line.rsplit("/", 1)[-1] for line in output.split()}

    def objects(self, kind: str, selector: str) -> list[dict[str, Any]]:
        argv = [*kubectl_argv(self.config), "get", kind, "--all-namespaces", "-l", selector]
        output = run_kubectl([*argv, "-o", "json"], f"list the cluster's {kind}")
        items: list[dict[str, Any]] = json.loads(output)["items"]
        return items
