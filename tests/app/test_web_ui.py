"""`todo-api serve` serves the web UI at / on the API's origin, and claims no other path."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.api.web_ui import WEB_DIR
from tests.app.test_docs import EXTERNAL

# Serving files depends on no database: one backend is enough.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])

# An ES module import or a page's own script and stylesheet.
LOCAL_REFERENCE = re.compile(r"""(?:from\s+|src=|href=)["']\./?([A-Za-z0-9_.-]+)["']""")


@sqlite_only
def test_root_is_the_page_and_every_file_is_served_as_itself(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.content == (WEB_DIR / "index.html").read_bytes()
    for path in WEB_DIR.iterdir():
        served = client.get(f"/{path.name}")
        assert served.status_code == 200, path.name
        assert served.content == path.read_bytes(), path.name
    assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert client.head("/styles.css").status_code == 200


def test_every_file_the_page_loads_is_in_the_folder_and_nothing_comes_from_elsewhere() -> None:
    names = {path.name for path in WEB_DIR.iterdir()}
    for path in WEB_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert EXTERNAL.findall(text) == [], path.name
        for reference in LOCAL_REFERENCE.findall(text):
            assert reference in names, f"{path.name} loads {reference}, which is not in app/web"


@sqlite_only
def test_other_paths_answer_as_before(client: TestClient) -> None:
    """The UI's routes are exact: unknown paths stay 404s and wrong methods the API's 405s."""
    for method, path in [("GET", "/nothing"), ("POST", "/nothing"), ("GET", "/web/app.js")]:
        answer = client.request(method, path)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["detail"]
    wrong_method = client.put("/api/v1/tasks")
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["allow"]
    assert not {"/", "/index.html", "/app.js"} & set(client.get("/openapi.json").json()["paths"])
