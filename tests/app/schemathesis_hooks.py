"""Schemathesis hooks for the conformance test: real tokens, from the service itself.

Loaded by ``schemathesis run`` (``SCHEMATHESIS_HOOKS``), with the service's address and a token
the test got by registering and signing in (``CONFORMANCE_API``, ``CONFORMANCE_TOKEN``). Every
operation sends that token, except signing out: that revokes the token it is sent, so each
call gets a fresh one, from a new account, and the shared token lives on for the others.
"""

from __future__ import annotations

import os
import uuid

import httpx
import schemathesis

PASSWORD = "conformance password"


def _bearer(case: schemathesis.Case, token: str) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


@schemathesis.auth(refresh_interval=None).skip_for(operation_id="logout")
class SignedIn:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return os.environ["CONFORMANCE_TOKEN"]

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None).apply_to(operation_id="logout")
class FreshAccount:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        response = httpx.post(
            f"{os.environ['CONFORMANCE_API']}/api/v1/auth/register",
            json={"username": f"signout-{uuid.uuid4().hex[:12]}", "password": PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        _bearer(case, data)
