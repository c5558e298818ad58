"""A cluster the prerequisite checks can ask without one: CRDs by name, objects by kind."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from stacks.cluster_checks import Manifest
from stacks.config import StackConfig, stack_config
from stacks.preflight import PreflightError
from tests.infra.manifests import REPO, user_stack_settings


def stack(name: str, **overrides: object) -> StackConfig:
    """``Pulumi.<name>.yaml``'s validated settings plus ``overrides`` (top-level keys), as a
    user runs them; the program itself is not run."""
    settings, secret_keys = user_stack_settings(REPO / f"Pulumi.{name}.yaml")
    for key, value in overrides.items():
        settings[key] = json.dumps(value)
    return stack_config(settings, secret_keys)


def selector_labels(selector: str) -> dict[str, str]:
    """The labels an equality selector (``a=b,c=d``) asks for."""
    return dict(term.split("=", 1) for term in selector.split(","))


@dataclass
class FakeCluster:
    """What a cluster serves; ``broken`` makes every question fail the way kubectl does."""

    served_crds: set[str] = field(default_factory=set)
    served: dict[str, list[Manifest]] = field(default_factory=dict)
    broken: str = ""
    asked: list[str] = field(default_factory=list)

    def crds(self, names: tuple[str, ...]) -> set[str]:
        self.asked.append("crds")
        self._answer()
        return self.served_crds.intersection(names)

    def objects(self, kind: str, selector: str) -> list[Manifest]:
        self.asked.append(kind)
        self._answer()
        wanted = selector_labels(selector)
        return [
            found
            for found in self.served.get(kind, [])
            if wanted.items() <= found["metadata"].get("labels", {}).items()
        ]

    def _answer(self) -> None:
        if self.broken:
            raise PreflightError(f"cannot ask the cluster with kubectl: {self.broken}")


def config_map(namespace: str, name: str, labels: dict[str, str], **data: str) -> Manifest:
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}, "data": data}


def deployment(namespace: str, name: str, labels: dict[str, str], **env: str) -> Manifest:
    container = {"name": name, "env": [{"name": key, "value": value} for key, value in env.items()]}
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
