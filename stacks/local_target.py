"""The local target of ``todo-infra ... --local``: its own backend, passphrase and secrets.

Everything lives in one state folder outside the checkout (``$TODO_DEPLOY_STATE``, default
``${XDG_STATE_HOME:-~/.local/state}/todo-evolution/deploy``):

- ``backend/``: a Pulumi file backend, so no login and no Pulumi Cloud;
- ``home/``: the ``PULUMI_HOME`` of these runs, so ``~/.pulumi`` is not touched;
- ``passphrase``: the key of the passphrase secrets provider, generated once (mode 0600);
- ``project/``: the workspace: ``Pulumi.yaml`` and one ``Pulumi.<stack>.yaml`` per stack.

The workspace's stack file is the tracked ``Pulumi.<stack>.yaml``'s settings plus the settings
only the local target has (:func:`local_overrides`) plus the three secrets, generated once and
stored encrypted (``secure:``) by Pulumi. It is rewritten from the tracked file on every run
(so an edit there is deployed), keeping the salt and the encrypted secrets: the same values on
every run, and nothing in the checkout changes.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from stacks.config import PROJECT, SECRET_KEYS, merge

SECRET_BYTES = 36
"""Random bytes per generated secret: 48 URL-safe characters, above every minimum length."""


def state_dir() -> Path:
    """Where the local target keeps its backend, passphrase and workspace."""
    explicit = os.environ.get("TODO_DEPLOY_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "todo-evolution" / "deploy"


def local_overrides(settings: Mapping[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """The settings only the local target has, merged over the stack file's ``settings``.

    - ``cluster``: the local control plane's kubeconfig, whatever cluster the file names;
    - ``ingress.awaitLoadBalancer: false``: no ingress controller runs there, so nothing will
      ever publish the Ingress's address (see ``infra.ingress``).
    """
    prefix = f"{PROJECT}:"
    ingress = settings.get(f"{prefix}ingress") or {}
    return {
        f"{prefix}cluster": {"provider": "none", "kubeconfig": str(kubeconfig)},
        f"{prefix}ingress": merge(ingress, {"awaitLoadBalancer": False}),
    }


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return document if isinstance(document, dict) else {}


def _is_secure(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


@dataclass(frozen=True)
class LocalTarget:
    """The state folder of the local target; :meth:`prepare` makes a stack ready to run."""

    root: Path

    @property
    def backend(self) -> Path:
        return self.root / "backend"

    @property
    def work_dir(self) -> Path:
        return self.root / "project"

    @property
    def passphrase_file(self) -> Path:
        return self.root / "passphrase"

    def env(self, kubeconfig: Path) -> dict[str, str]:
        """The environment of the Pulumi CLI for this target."""
        return {
            "PULUMI_BACKEND_URL": self.backend.as_uri(),
            "PULUMI_HOME": str(self.root / "home"),
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(self.passphrase_file),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "KUBECONFIG": str(kubeconfig),
        }

    def _ensure_folders(self) -> None:
        for folder in (self.backend, self.work_dir, self.root / "home"):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.passphrase_file.exists():
            # Created with its final mode: the passphrase is never readable by others.
            fd = os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(32))

    def write_stack_file(self, stack: str, tracked: Path, kubeconfig: Path) -> None:
        """Rewrite the workspace's ``Pulumi.<stack>.yaml`` from the tracked one, keeping the
        salt and the encrypted secrets it already holds."""
        self._ensure_folders()
        path = self.work_dir / f"Pulumi.{stack}.yaml"
        current = _read_yaml(path)
        kept_secrets = {
            key: value
            for key, value in (current.get("config") or {}).items()
            if _is_secure(value) and key.removeprefix(f"{PROJECT}:") in SECRET_KEYS
        }
        settings = {
            key: value
            for key, value in (_read_yaml(tracked).get("config") or {}).items()
            if not _is_secure(value)  # encrypted with the tracked stack's key, not ours
        }
        document = {key: value for key, value in current.items() if key != "config"}
        document["config"] = {
            **settings,
            **local_overrides(settings, kubeconfig),
            **kept_secrets,
        }
        path.write_text(
            "# Written by `todo-infra --local` from the tracked stack file; edit that one.\n"
            + yaml.safe_dump(document, sort_keys=False),
            encoding="utf-8",
        )

    @staticmethod
    def add_missing_secrets(stack: auto.Stack) -> list[str]:
        """Generate and store, encrypted, each secret the stack lacks; the keys generated."""
        present = stack.get_all_config()
        generated = []
        for key in SECRET_KEYS:
            full = f"{PROJECT}:{key}"
            if full not in present:
                value = secrets.token_urlsafe(SECRET_BYTES)
                stack.set_config(full, auto.ConfigValue(value=value, secret=True))
                generated.append(full)
        return generated
