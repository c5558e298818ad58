"""Run component constructors under Pulumi mocks and return what they registered.

A stand-in until the shared harness lands; it relies only on the SDK's public mocks API
(``set_mocks`` and ``MockMonitor.get_registered_resources``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await


class _EchoMocks(pulumi.runtime.Mocks):
    """Every resource's outputs are its inputs, so tests read back what was asked for."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Registered:
    type: str
    name: str
    props: dict[str, Any]


def run(build: Callable[[], object]) -> list[Registered]:
    """Call ``build`` under fresh mocks; return every resource it registered, in order."""
    mocks = _EchoMocks()
    monitor = MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="todo", stack="test", preview=False, monitor=monitor)
    _sync_await(run_pulumi_func(build))
    found = []
    for urn, registration in monitor.get_registered_resources().items():
        qualified_type, name = urn.split("::")[-2:]
        found.append(Registered(qualified_type.split("$")[-1], name, dict(registration.state)))
    return found


def one(resources: list[Registered], type_: str, name_suffix: str = "") -> Registered:
    """The single resource of ``type_`` (whose name ends with ``name_suffix``)."""
    matches = [r for r in resources if r.type == type_ and r.name.endswith(name_suffix)]
    assert len(matches) == 1, (
        f"expected one {type_} *{name_suffix}, found {[m.name for m in matches]}"
    )
    return matches[0]


def of_type(resources: list[Registered], type_: str) -> list[Registered]:
    return [r for r in resources if r.type == type_]
