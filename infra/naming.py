"""Kubernetes object names, built in one place so every component obeys the same limits."""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
"""DNS-1123 labels (Service, Namespace, label values) are capped at 63 characters."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def child_name(base: str, role: str, *, limit: int = MAX_NAME_LENGTH) -> str:
    """Return ``f"{base}-{role}"`` capped at ``limit`` characters.

    A long name is cut and given a short hash of the full name, so two long names that share a
    prefix still differ (the same trick Helm charts use with ``trunc 63``, minus the collisions).
    """
    full = f"{base}-{role}" if role else base
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def require_dns_label(value: str, *, field: str) -> str:
    """Fail fast, quoting the value, when ``value`` cannot be a Kubernetes object name."""
    if len(value) > MAX_NAME_LENGTH or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{field}={value!r} is not a valid Kubernetes name: use at most {MAX_NAME_LENGTH} "
            "lower-case letters, digits and '-', starting and ending with a letter or digit"
        )
    return value
