"""The ``app.kubernetes.io/*`` labels every object carries, and the selectors that never change."""

from __future__ import annotations

import re
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


DIGEST_ALGORITHM = "sha256"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The image name grammar of the OCI distribution spec: an optional registry host (a first
# component with a dot or a port, or ``localhost``), then lower-case path components.
_HOST = re.compile(r"^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]+)?)$")
_PATH = re.compile(r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")


def _valid_name(repository: str) -> bool:
    host, slash, path = repository.partition("/")
    if slash and ("." in host or ":" in host or host == "localhost"):
        return bool(_HOST.match(host) and _PATH.match(path))
    return bool(_PATH.match(repository))


def image_version(image: str) -> str:
    """The version of a pinned image reference, for the ``app.kubernetes.io/version`` label.

    Accepted: ``repo:tag``, ``repo:tag@sha256:<64 hex>`` and ``repo@sha256:<64 hex>``. A digest
    names the bytes, so it pins even ``latest``; a digest alone gives the version
    ``sha256-<first 12 hex>``, the short form ``docker images`` prints.
    """
    name, at, digest = image.partition("@")
    if at and not _DIGEST.match(digest):
        raise ValueError(
            f"image {image!r} has a malformed digest {digest!r}: expected "
            f"{DIGEST_ALGORITHM}: and 64 lower-case hexadecimal digits"
        )
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = name, ""
    if not _valid_name(repository):
        raise ValueError(f"image {image!r} has an invalid repository name {repository!r}")
    if tag and not _TAG.match(tag):
        raise ValueError(f"image {image!r} has an invalid tag {tag!r}")
    if at and not tag:
        return f"{DIGEST_ALGORITHM}-{digest.removeprefix(DIGEST_ALGORITHM + ':')[:12]}"
    if not tag:
        raise ValueError(f"image {image!r} has no tag: pin every image to a version or a digest")
    if tag == "latest" and not at:
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
"""An image reference pinned by a version tag other than ``latest`` or by a ``sha256`` digest,
checked where a setting is validated, so an unpinned or malformed one fails with the other
config errors."""
