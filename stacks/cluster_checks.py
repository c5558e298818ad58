"""What a check of the cluster's prerequisites reports, and what it may ask the cluster.

A stack deployed onto a cluster it did not make depends on what is installed there: CRDs, and
settings of controllers (ingress-nginx, Dapr's sidecar injector) that reject the stack's objects
without them, often only once traffic or pods arrive. Each check answers with a
:class:`Prerequisite`: its status, what was found, and the remedy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from stacks.preflight import PreflightError

Manifest = dict[str, Any]


class Status(StrEnum):
    OK = "ok"
    MISSING = "missing"
    UNKNOWN = "unknown"
    """The cluster could not be asked (kubectl failed): nothing is known either way."""
    SKIPPED = "skipped"
    """Not asked: the stack creates the cluster, which has nothing installed yet."""
    NOT_NEEDED = "not needed"
    """The feature that needs it is off, or the stack installs and configures it."""

    @property
    def blocking(self) -> bool:
        """Whether ``preview``/``up`` refuse and ``doctor`` fails: only what is known to be
        missing, or could not be known."""
        return self in (Status.MISSING, Status.UNKNOWN)


@dataclass(frozen=True)
class Prerequisite:
    """One prerequisite of the stack on its cluster, as checked."""

    name: str
    status: Status
    detail: str
    """What was found (or why nothing was asked), in one line."""
    remedy: str = ""
    """What to do when it is missing: the exact setting, and the stack setting that turns the
    feature needing it off."""

    def line(self) -> str:
        """The one line ``preview``/``up`` refuse with."""
        return f"{self.detail}: {self.remedy}" if self.remedy else self.detail


class ClusterLookup(Protocol):
    """What the checks read from the cluster (``preflight.KubectlCluster``, or a fake)."""

    def crds(self, names: tuple[str, ...]) -> set[str]:
        """Which of these CustomResourceDefinitions the cluster serves."""
        ...

    def objects(self, kind: str, selector: str) -> list[Manifest]:
        """The objects of ``kind`` in every namespace that match the label ``selector``."""
        ...


def asked(name: str, check: Callable[[], Prerequisite]) -> Prerequisite:
    """``check()``, or, when it could not ask the cluster, an unknown status saying why."""
    try:
        return check()
    except PreflightError as error:
        return Prerequisite(name, Status.UNKNOWN, str(error))


def not_needed(switches: Mapping[str, bool], installer: str, installs: bool, what: str) -> str:
    """Why the cluster need not be asked (:attr:`Status.NOT_NEEDED`): the first of the
    ``switches`` that turns the feature off, as the setting, or the stack installing ``what``
    itself (its add-on setting ``installer``). Empty when the cluster must be asked."""
    off = next((f"{key}=false" for key, on in switches.items() if not on), "")
    if off:
        return off
    return f"the stack installs {what} ({installer}=true)" if installs else ""
