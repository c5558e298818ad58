"""Namespace: the restricted Pod Security Standard and a valid name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.namespace import Namespace, NamespaceArgs
from tests.infra.manifests import build, named


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    objects = build(lambda: Namespace("t", NamespaceArgs(namespace="todo-test", instance="todo")))
    labels = named(objects, "Namespace", "todo-test")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/instance"] == "todo"


def test_namespace_name_must_be_a_dns_label() -> None:
    with pytest.raises(ValidationError, match=r"namespace='Todo' is not a valid Kubernetes name"):
        NamespaceArgs(namespace="Todo", instance="todo")
