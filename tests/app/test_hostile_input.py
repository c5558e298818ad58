"""No input gives a 5xx, on PostgreSQL and SQLite: JSON that Python parses but cannot answer with
(NaN, Infinity, lone surrogates), characters a database cannot store (NUL, non-characters),
oversized bodies; and every error answer is the one envelope, which never echoes the request."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.app.helpers import PASSWORD, create_task, register

JSON = {"Content-Type": "application/json"}
# Chunks a streaming client sends; the limit is counted over them as they arrive.
CHUNK = 64 * 1024


def _assert_envelope(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    for error in body["errors"]:
        assert set(error) == {"loc", "msg", "type"}, "no input, no ctx"
    return body


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["username", "password"])
def test_non_json_numbers_in_register_answer_422(
    client: TestClient, constant: str, field: str
) -> None:
    fields = {"username": '"alice"', "password": f'"{PASSWORD}"', field: constant}
    content = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    response = client.post("/api/v1/auth/register", content=content, headers=JSON)
    body = _assert_envelope(response, 422)
    assert [e["loc"] for e in body["errors"]] == [["body", field]]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["title", "description", "priority", "due_date", "tags"])
def test_non_json_numbers_in_task_bodies_answer_422(
    client: TestClient, constant: str, field: str
) -> None:
    headers = {**register(client), **JSON}
    content = f'{{"title": "t", "{field}": {constant}}}'
    created = client.post("/api/v1/tasks", content=content, headers=headers)
    assert [e["loc"][:2] for e in _assert_envelope(created, 422)["errors"]] == [["body", field]]
    task = create_task(client, headers)
    patched = client.patch(f"/api/v1/tasks/{task['id']}", content=content, headers=headers)
    assert [e["loc"][:2] for e in _assert_envelope(patched, 422)["errors"]] == [["body", field]]


UNSTORABLE = {
    "NUL": "\\u0000",
    "lone high surrogate": "\\ud800",
    "lone low surrogate": "\\udfff",
    "non-character U+FFFF": "\\uffff",
    "non-character U+FDD0": "\\ufdd0",
    "non-character U+10FFFF": "\\udbff\\udfff",
}


@pytest.mark.parametrize("escape", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize("field", ["title", "description", "tags"])
def test_unstorable_characters_in_tasks_answer_422_naming_the_field(
    client: TestClient, escape: str, field: str
) -> None:
    headers = {**register(client), **JSON}
    value = f'["a{escape}b"]' if field == "tags" else f'"a{escape}b"'
    content = f'{{"title": "t", "{field}": {value}}}'
    response = client.post("/api/v1/tasks", content=content, headers=headers)
    body = _assert_envelope(response, 422)
    assert [e["loc"][:2] for e in body["errors"]] == [["body", field]]
    task = create_task(client, headers)
    patched = client.patch(f"/api/v1/tasks/{task['id']}", content=content, headers=headers)
    assert [e["loc"][:2] for e in _assert_envelope(patched, 422)["errors"]] == [["body", field]]
    assert client.get("/api/v1/tasks", headers=headers).json()["items"] == [task]


@pytest.mark.parametrize("escape", UNSTORABLE.values(), ids=UNSTORABLE.keys())
@pytest.mark.parametrize("field", ["username", "password"])
def test_unstorable_characters_in_accounts_answer_422(
    client: TestClient, escape: str, field: str
) -> None:
    fields = {"username": '"alice"', "password": f'"{PASSWORD}"'}
    fields[field] = f'"abc{escape}defghij"'
    content = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    registered = client.post("/api/v1/auth/register", content=content, headers=JSON)
    assert [e["loc"] for e in _assert_envelope(registered, 422)["errors"]] == [["body", field]]


@pytest.mark.parametrize("character", ["\x00", "\ufdd0", "\uffff"])
@pytest.mark.parametrize("field", ["username", "password"])
def test_unstorable_characters_in_the_login_form_answer_422(
    client: TestClient, character: str, field: str
) -> None:
    register(client, "alice")
    form = {"username": "alice", "password": PASSWORD}
    form[field] = f"al{character}ice"
    response = client.post("/api/v1/auth/token", data=form)
    assert [e["loc"] for e in _assert_envelope(response, 422)["errors"]] == [["body", field]]
    ok = client.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert ok.status_code == 200


def test_an_unknown_key_that_cannot_be_encoded_is_not_echoed(client: TestClient) -> None:
    known = f'"username": "alice", "password": "{PASSWORD}"'
    nul = client.post("/api/v1/auth/register", content=f'{{{known}, "x\\u0000": 2}}', headers=JSON)
    assert _assert_envelope(nul, 422)["errors"] == [
        {
            "loc": ["body", "<unknown key>"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]
    # Pydantic cannot read a surrogate key at all: it reports the body as a whole.
    surrogate = f'{{{known}, "\\ud800": 2}}'
    lone = client.post("/api/v1/auth/register", content=surrogate, headers=JSON)
    assert [(e["loc"], e["type"]) for e in _assert_envelope(lone, 422)["errors"]] == [
        (["body"], "string_unicode")
    ]


def test_errors_never_echo_the_input(client: TestClient) -> None:
    marker = "echo-me-" * 25_000  # 200 kB, under the body limit
    cases = [
        ("/api/v1/auth/register", {"username": marker, "password": marker}),
        ("/api/v1/auth/register", {"username": "alice", "password": PASSWORD, "x": marker}),
        ("/api/v1/tasks", {"title": marker}),
    ]
    headers = register(client)
    for path, body in cases:
        response = client.post(path, json=body, headers=headers)
        _assert_envelope(response, 422)
        assert "echo-me" not in response.text
        assert len(response.content) < 2_000
    listed = client.get("/api/v1/tasks", params={"cursor": "echo-me-cursor"}, headers=headers)
    assert _assert_envelope(listed, 422)["errors"][0]["loc"] == ["query", "cursor"]
    assert "echo-me" not in listed.text
    register(client, "bob")
    taken = client.post("/api/v1/auth/register", json={"username": "bob", "password": PASSWORD})
    assert "bob" not in _assert_envelope(taken, 409)["detail"]


def test_many_bad_items_list_a_bounded_number_of_errors(client: TestClient) -> None:
    headers = register(client)
    body = {"title": "t", **{f"extra{i}": i for i in range(500)}}
    response = client.post("/api/v1/tasks", json=body, headers=headers)
    detail = _assert_envelope(response, 422)
    assert len(detail["errors"]) == 20
    assert "500 error(s)" in detail["detail"]


def test_every_4xx_has_the_envelope(client: TestClient) -> None:
    headers = register(client)
    _assert_envelope(client.get("/no/such/route"), 404)
    not_allowed = client.put("/api/v1/tasks", headers=headers)
    _assert_envelope(not_allowed, 405)
    assert "allow" in not_allowed.headers, "the handler keeps the exception's headers"
    _assert_envelope(client.get("/api/v1/tasks"), 401)
    broken = client.post("/api/v1/tasks", content=b'{"title": ', headers={**headers, **JSON})
    assert _assert_envelope(broken, 422)["errors"][0]["msg"].startswith("invalid JSON")


def _padded_register(size: int) -> bytes:
    """A valid registration, padded with JSON whitespace to ``size`` bytes."""
    body = f'{{"username": "alice", "password": "{PASSWORD}"}}'.encode()
    return body + b" " * (size - len(body))


def test_a_declared_length_over_the_limit_answers_413_unread(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register", content=_padded_register(1_048_577), headers=JSON
    )
    body = _assert_envelope(response, 413)
    assert body["detail"] == "the request body is larger than the limit of 1048576 bytes"
    assert (
        client.post(
            "/api/v1/auth/register", content=_padded_register(1_048_576), headers=JSON
        ).status_code
        == 201
    )


def test_the_limit_is_a_setting(settings: Settings) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    with TestClient(create_app(small)) as client:
        over = client.post("/api/v1/auth/register", content=_padded_register(2049), headers=JSON)
        _assert_envelope(over, 413)
        fits = client.post("/api/v1/auth/register", content=_padded_register(2048), headers=JSON)
        assert fits.status_code == 201


def test_a_streamed_body_is_cut_off_at_the_limit_not_read_whole(client: TestClient) -> None:
    """No Content-Length (chunked): the 413 comes once the limit is passed, and the app pulls
    no more than one chunk beyond it out of a 64 MiB stream."""
    total_chunks = 1024
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": pulled < total_chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/auth/register",
        "raw_path": b"/api/v1/auth/register",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def call() -> None:
        with anyio.fail_after(120):  # a guard only; the work is bounded by the chunk count
            await client.app(scope, receive, send)

    assert client.portal is not None
    client.portal.call(call)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [413]
    assert pulled <= 1_048_576 // CHUNK + 1
