"""ServiceAccounts per workload, no token automount, and the one narrow Role."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.rbac import Rbac, RbacArgs
from tests.infra.manifests import build, of_kind


def _rbac(readers: tuple[str, ...]) -> list[dict[str, Any]]:
    args = RbacArgs(
        namespace="todo-test",
        instance="todo",
        workloads=("backend", "relay"),
        secret_readers=readers,
        secret_name="todo-credentials",
    )
    return build(lambda: Rbac("t", args))


def test_one_account_per_workload_without_token_automount() -> None:
    accounts = of_kind(_rbac(()), "ServiceAccount")
    assert sorted(a["metadata"]["name"] for a in accounts) == ["todo-backend", "todo-relay"]
    for account in accounts:
        assert account["automountServiceAccountToken"] is False


def test_no_permissions_unless_asked() -> None:
    objects = _rbac(())
    assert of_kind(objects, "Role") == []
    assert of_kind(objects, "RoleBinding") == []


def test_secret_readers_may_only_get_the_one_secret() -> None:
    objects = _rbac(("backend",))
    (role,) = of_kind(objects, "Role")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["todo-credentials"],
            "verbs": ["get"],
        }
    ]
    (binding,) = of_kind(objects, "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "todo-backend", "namespace": "todo-test"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_secret_readers_must_be_workloads() -> None:
    with pytest.raises(ValidationError, match=r"secret_readers \['web'\] are not in workloads"):
        RbacArgs(
            namespace="todo-test",
            instance="todo",
            workloads=("backend",),
            secret_readers=("web",),
            secret_name="s",
        )
