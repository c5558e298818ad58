"""Run cloud components under Pulumi mocks and record everything the engine would be told.

Besides each resource's inputs, the recording keeps what ``MockResourceArgs`` leaves out: the
provider map a component hands down, the explicit dependencies, and whether a resource is a
component. Cloud look-ups are answered by ``infra.cluster.offline`` (the same answers the
offline render uses); any other look-up fails the test, so an unmocked invoke cannot hide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.cluster import ProvisionedCluster
from infra.cluster.offline import offline_invoke, offline_outputs

Cluster = TypeVar("Cluster", bound=ProvisionedCluster)


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    provider: str
    providers: dict[str, str]
    dependencies: list[str]

    @property
    def provider_name(self) -> str:
        """The logical name of the explicit provider (``urn::id`` -> the name part)."""
        return self.provider.split("::")[-2] if self.provider else ""


@dataclass
class Recording:
    resources: list[Registered] = field(default_factory=list)
    invokes: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}: {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for resource in self.resources:
            result[resource.type] = result.get(resource.type, 0) + 1
        return result


class _CloudMocks(pulumi.runtime.Mocks):
    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", offline_outputs(args.typ, args.name, args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.recording.invokes.append(args.token)
        return offline_invoke(args.token, args.args)


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: _CloudMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks.recording

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        self.recording.resources.append(
            Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                custom=request.custom,
                inputs=rpc.deserialize_properties(request.object),
                provider=request.provider,
                providers=dict(request.providers),
                dependencies=list(request.dependencies),
            )
        )
        return response


def run(
    build: Callable[[], dict[str, pulumi.Output[Any]] | None],
    *,
    project: str = "todo",
    config: Mapping[str, str] | None = None,
    secret_keys: Sequence[str] = (),
) -> Recording:
    """Call ``build`` under fresh mocks (and this config); record its resources and resolve
    the outputs it returns."""
    recording = Recording()
    mocks = _CloudMocks(recording)
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack="test", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys))

    def program() -> None:
        outputs = build() or {}
        for key, output in outputs.items():
            output.apply(lambda value, key=key: recording.outputs.__setitem__(key, value))

    _sync_await(run_pulumi_func(program))
    return recording


def build_cluster(make: Callable[[], Cluster]) -> tuple[Recording, Cluster]:
    """Run ``make`` under mocks; the cluster's kubeconfig and, when it made a registry, the
    registry's address are resolved into ``outputs`` (``kubeconfig``, ``registry``)."""
    made: list[Cluster] = []

    def program() -> dict[str, pulumi.Output[Any]]:
        cluster = make()
        made.append(cluster)
        outputs: dict[str, pulumi.Output[Any]] = {"kubeconfig": cluster.kubeconfig}
        if cluster.registry_url is not None:
            outputs["registry"] = cluster.registry_url
        return outputs

    recording = run(program)
    return recording, made[0]


def secret_flag(output: pulumi.Output[Any]) -> bool:
    """Whether an output is marked secret (resolved under the mocks' event loop)."""
    return bool(_sync_await(output.is_secret()))
