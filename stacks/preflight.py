"""Checks ``todo-infra`` makes before it starts the engine, each failing with one line.

A check here replaces a wall of engine errors after half the stack was created with one
sentence that says what is missing and how to get it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from infra.cluster import NoCluster
from infra.dapr.resources import CRDS as DAPR_CRDS
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


def required_crds(config: StackConfig) -> tuple[str, ...]:
    """The CRDs that must already exist: Dapr's, when the stack uses Dapr but does not install
    it. (When it installs the Dapr add-on, its objects wait for the add-on instead.)"""
    if config.dapr.enabled and not config.addons.dapr.enabled:
        return DAPR_CRDS
    return ()


def require_crds(config: StackConfig, lookup: CrdLookup) -> None:
    """Refuse, naming every missing CRD, when the cluster lacks one the stack's objects need."""
    needed = required_crds(config)
    if not needed:
        return
    # A cluster the stack creates has no Dapr yet: nothing to ask.
    present = lookup(needed) if isinstance(config.cluster, NoCluster) else set()
    missing = [name for name in needed if name not in present]
    if missing:
        raise PreflightError(
            f"the cluster lacks the Dapr CRDs {', '.join(missing)}: install Dapr "
            f"(its Helm chart or `dapr init -k`), or set {PROJECT}:addons.dapr.enabled=true "
            f"to install it with the stack, or {PROJECT}:dapr.enabled=false"
        )


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
