"""ServiceAccounts per workload, no token automount, and no permission for any of them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.rbac import Rbac, RbacArgs
from tests.infra.manifests import build, of_kind


def _rbac() -> list[dict[str, Any]]:
    args = RbacArgs(namespace="todo-test", instance="todo", workloads=("backend", "relay"))
    return build(lambda: Rbac("t", args))


def test_one_account_per_workload_without_token_automount() -> None:
    accounts = of_kind(_rbac(), "ServiceAccount")
    assert sorted(a["metadata"]["name"] for a in accounts) == ["todo-backend", "todo-relay"]
    for account in accounts:
        assert account["automountServiceAccountToken"] is False


def test_no_account_is_granted_anything() -> None:
    # The one former grant, secrets/get for the API's sidecar, served nothing: Dapr's operator
    # resolves the Components' secretKeyRef itself (issue 11, a).
    objects = _rbac()
    assert {o["kind"] for o in objects} == {"ServiceAccount"}


def test_workloads_must_be_dns_labels() -> None:
    with pytest.raises(ValidationError, match=r"workloads='Web_1' is not a valid Kubernetes name"):
        RbacArgs(namespace="todo-test", instance="todo", workloads=("Web_1",))
