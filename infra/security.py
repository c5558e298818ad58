"""Pod and container hardening: the one place that says how every container runs.

Every container, init container and sidecar gets the same context: non-root, no privilege
escalation, no capabilities, a read-only root filesystem and the runtime's default seccomp
profile. Programs that must write get an ``emptyDir`` mounted where they write, never a writable
root filesystem.
"""

from __future__ import annotations

import pulumi_kubernetes.core.v1 as core

DEFAULT_UID = 10001
"""A uid outside the range distributions give to system and login users."""


def pod_security_context(
    uid: int = DEFAULT_UID, *, fs_group: int | None = None
) -> core.PodSecurityContextArgs:
    """The pod-level context; ``fs_group`` makes mounted volumes writable by the non-root uid."""
    return core.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid if fs_group is None else fs_group,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(uid: int = DEFAULT_UID) -> core.SecurityContextArgs:
    """The container-level context, restated per container so it holds even if a pod's is lost."""
    return core.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def scratch_volume(name: str, *, size_limit: str = "64Mi", memory: bool = False) -> core.VolumeArgs:
    """A size-capped ``emptyDir`` for a path a program must write under a read-only root."""
    return core.VolumeArgs(
        name=name,
        empty_dir=core.EmptyDirVolumeSourceArgs(
            size_limit=size_limit, medium="Memory" if memory else None
        ),
    )
