"""Resource sizes: named presets or explicit values, never absent.

Presets follow the Bitnami charts' idea: a small fixed ladder that profiles pick from, so a
stack file says ``small`` instead of four numbers, and an unknown name fails listing the valid
ones. Limits are set for memory (an OOM kill is better than a node under pressure) and for CPU
at a multiple of the request, which keeps bursts possible but bounded.
"""

from __future__ import annotations

from typing import Literal, get_args

import pulumi_kubernetes.core.v1 as core
from pydantic import BaseModel, ConfigDict, Field

Preset = Literal["nano", "micro", "small", "medium", "large", "xlarge"]
PRESET_NAMES: tuple[str, ...] = get_args(Preset)


class Resources(BaseModel):
    """Explicit requests and limits; CPU in millicores, memory in MiB."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_request_m: int = Field(ge=10, le=64000, description="CPU request in millicores.")
    memory_request_mi: int = Field(ge=16, le=262144, description="Memory request in MiB.")
    cpu_limit_m: int = Field(ge=10, le=64000, description="CPU limit in millicores.")
    memory_limit_mi: int = Field(ge=16, le=262144, description="Memory limit in MiB.")

    def to_args(self) -> core.ResourceRequirementsArgs:
        return core.ResourceRequirementsArgs(
            requests={"cpu": f"{self.cpu_request_m}m", "memory": f"{self.memory_request_mi}Mi"},
            limits={"cpu": f"{self.cpu_limit_m}m", "memory": f"{self.memory_limit_mi}Mi"},
        )


PRESETS: dict[str, Resources] = {
    "nano": Resources(cpu_request_m=25, memory_request_mi=32, cpu_limit_m=100, memory_limit_mi=64),
    "micro": Resources(
        cpu_request_m=50, memory_request_mi=96, cpu_limit_m=250, memory_limit_mi=192
    ),
    "small": Resources(
        cpu_request_m=100, memory_request_mi=192, cpu_limit_m=500, memory_limit_mi=384
    ),
    "medium": Resources(
        cpu_request_m=250, memory_request_mi=512, cpu_limit_m=1000, memory_limit_mi=1024
    ),
    "large": Resources(
        cpu_request_m=500, memory_request_mi=1024, cpu_limit_m=2000, memory_limit_mi=2048
    ),
    "xlarge": Resources(
        cpu_request_m=1000, memory_request_mi=2048, cpu_limit_m=4000, memory_limit_mi=4096
    ),
}

Size = Preset | Resources
"""A size in a stack file: a preset name or explicit numbers."""


def resolve(size: Size) -> Resources:
    """The explicit numbers behind a size."""
    if isinstance(size, Resources):
        return size
    try:
        return PRESETS[size]
    except KeyError:
        raise ValueError(
            f"unknown resource preset {size!r}; valid presets: {', '.join(PRESET_NAMES)}"
        ) from None


def requirements(size: Size) -> core.ResourceRequirementsArgs:
    """The ``resources`` block of a container of this size."""
    return resolve(size).to_args()
