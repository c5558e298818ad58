"""/docs and /redoc load everything from the service itself: they work offline, and a reader's
browser asks no other host for anything."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

# Any absolute URL, protocol-relative ones included, in an attribute or in inline script.
EXTERNAL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}""")
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_reference_no_external_host(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert EXTERNAL.findall(response.text) == []
    assets = ASSET.findall(response.text)
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the service"
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 1000, f"{asset} is empty"


def test_swagger_ui_reads_our_openapi_and_has_its_oauth2_redirect(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "'/openapi.json'" in page or '"/openapi.json"' in page
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert EXTERNAL.findall(redirect.text) == []
