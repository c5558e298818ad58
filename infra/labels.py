"""The ``app.kubernetes.io/*`` labels every object carries, and the selectors that never change."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

PART_OF = "todo-evolution"
MANAGED_BY = "pulumi"


def selector_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """The minimal, immutable selector (name + instance + component).

    Selectors of Deployments and StatefulSets cannot change after creation, so they hold only
    what identifies a workload for its whole life: never the version or the environment.
    """
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def standard_labels(name: str, instance: str, component: str, version: str) -> dict[str, str]:
    """The selector labels plus the descriptive ones Kubernetes recommends."""
    return {
        **selector_labels(name, instance, component),
        "app.kubernetes.io/version": version[:63],
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def image_version(image: str) -> str:
    """The tag of a pinned image reference (``repo:tag`` or ``repo:tag@sha256:...``)."""
    without_digest = image.split("@", 1)[0]
    _, colon, tag = without_digest.rpartition(":")
    if not colon or not tag or "/" in tag:
        raise ValueError(f"image {image!r} has no tag: pin every image to a version")
    if tag == "latest":
        raise ValueError(f"image {image!r} uses 'latest': pin every image to a version")
    return tag


def unversioned_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """Labels of objects that run no image (Ingress, Dapr resources, policies): no version."""
    return {
        **selector_labels(name, instance, component),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def _pinned(image: str) -> str:
    image_version(image)
    return image


PinnedImage = Annotated[str, AfterValidator(_pinned)]
"""An image reference that must carry a version tag other than ``latest``, checked where a
setting is validated, so an unpinned image fails with the other config errors."""
