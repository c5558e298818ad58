"""Task API contract, on PostgreSQL and SQLite: shapes, ownership, validation, pagination."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from app.models import Task, TaskPriority, TaskStatus, TaskTag, User
from app.services.tasks import Cursor, TaskFilters, page_query
from tests.app.helpers import create_task, register

TASK_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "tags",
    "created_at",
    "updated_at",
    "completed_at",
}


def test_create_answers_201_with_the_task_and_defaults(client: TestClient) -> None:
    headers = register(client)
    response = client.post(
        "/api/v1/tasks",
        json={"title": "  write tests ", "due_date": "2030-01-31", "tags": ["a", "b", "a"]},
        headers=headers,
    )
    assert response.status_code == 201
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert uuid.UUID(task["id"])
    assert task["title"] == "write tests"
    assert task["description"] is None
    assert task["status"] == "pending"
    assert task["priority"] == "medium"
    assert task["due_date"] == "2030-01-31"
    assert task["tags"] == ["a", "b"]
    assert task["created_at"] == task["updated_at"]
    assert task["completed_at"] is None


def test_get_returns_what_create_returned(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers, description="details", priority="high")
    response = client.get(f"/api/v1/tasks/{task['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == task


def test_patch_changes_only_the_fields_sent(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers, description="keep me", tags=["x"])
    response = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "renamed", "priority": "low"}, headers=headers
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "renamed"
    assert updated["priority"] == "low"
    assert updated["description"] == "keep me"
    assert updated["tags"] == ["x"]
    assert updated["updated_at"] > task["updated_at"]
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=headers).json() == updated


def test_patch_null_clears_optional_fields(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers, description="old", due_date="2030-01-01")
    response = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"description": None, "due_date": None}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["description"] is None
    assert response.json()["due_date"] is None


def test_status_changes_set_and_clear_completed_at(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers)
    done = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "completed"}, headers=headers
    ).json()
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    reopened = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "pending"}, headers=headers
    ).json()
    assert reopened["status"] == "pending"
    assert reopened["completed_at"] is None


def test_complete_answers_200_and_is_idempotent(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers)
    first = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    assert first.status_code == 200
    assert first.json()["status"] == "completed"
    assert first.json()["completed_at"] is not None
    again = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()


def test_delete_answers_204_then_the_task_is_gone(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers)
    response = client.delete(f"/api/v1/tasks/{task['id']}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    gone = client.get(f"/api/v1/tasks/{task['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json() == {"detail": f"task {task['id']} not found", "errors": []}
    assert client.delete(f"/api/v1/tasks/{task['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"title": "mine now"}),
        ("DELETE", "", None),
        ("POST", "/complete", None),
    ],
)
def test_another_users_task_answers_404_and_is_untouched(
    client: TestClient, method: str, suffix: str, body: dict | None
) -> None:
    owner = register(client)
    intruder = register(client)
    task = create_task(client, owner)
    response = client.request(
        method, f"/api/v1/tasks/{task['id']}{suffix}", json=body, headers=intruder
    )
    assert response.status_code == 404
    assert response.json() == {"detail": f"task {task['id']} not found", "errors": []}
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=owner).json() == task


def test_lists_hold_only_the_callers_tasks(client: TestClient) -> None:
    alice, bob = register(client), register(client)
    mine = create_task(client, alice, title="alice's")
    create_task(client, bob, title="bob's")
    response = client.get("/api/v1/tasks", headers=alice)
    assert response.status_code == 200
    assert response.json() == {"items": [mine], "next_cursor": None}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({}, "title"),
        ({"title": "ok", "description": "x" * 2001}, "description"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
        # Only what `format: date` means: not days since 1970, not a date-time.
        ({"title": "ok", "due_date": 0}, "due_date"),
        ({"title": "ok", "due_date": "2030-01-31T00:00:00"}, "due_date"),
        ({"title": "ok", "tags": "not-a-list"}, "tags"),
        ({"title": "ok", "tags": ["  "]}, "tags"),
        # The length limit counts what was sent, spaces around included, as `maxLength` does.
        ({"title": " " + "x" * 200}, "title"),
        ({"title": "ok", "tags": ["x" * 33]}, "tags"),
        ({"title": "ok", "tags": [str(i) for i in range(21)]}, "tags"),
        ({"title": "ok", "owner": "someone"}, "owner"),
        ({"title": "ok", "id": str(uuid.uuid4())}, "id"),
    ],
)
def test_create_rejects_bad_input_with_422_naming_the_field(
    client: TestClient, payload: dict, field: str
) -> None:
    headers = register(client)
    response = client.post("/api/v1/tasks", json=payload, headers=headers)
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["errors"]]
    assert all(loc[:2] == ["body", field] for loc in locations), locations


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": None}, "title"),
        ({"status": None}, "status"),
        ({"tags": None}, "tags"),
        ({"priority": None}, "priority"),
        ({"priority": "urgent"}, "priority"),
        ({"due_date": 1}, "due_date"),
        ({"completed_at": "2030-01-01T00:00:00Z"}, "completed_at"),
    ],
)
def test_patch_rejects_bad_input_with_422_naming_the_field(
    client: TestClient, payload: dict, field: str
) -> None:
    headers = register(client)
    task = create_task(client, headers)
    response = client.patch(f"/api/v1/tasks/{task['id']}", json=payload, headers=headers)
    assert response.status_code == 422
    assert [error["loc"][:2] for error in response.json()["errors"]] == [["body", field]]
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=headers).json() == task


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("status=done", "status"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=1.ABCDEF00000000000000000000000000", "cursor"),
        ("cursor=" + "x" * 300, "cursor"),
        ("priority=urgent", "priority"),
        ("priority=HIGH", "priority"),
        ("tag=", "tag"),
        ("tag=%20%20", "tag"),
        ("tag=" + "x" * 33, "tag"),
        ("tag=%00", "tag"),
        ("tag=a%EF%BF%BE", "tag"),
    ],
)
def test_list_rejects_bad_parameters_with_422_naming_them(
    client: TestClient, query: str, field: str
) -> None:
    headers = register(client)
    response = client.get(f"/api/v1/tasks?{query}", headers=headers)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["query", field]]


def test_malformed_ids_and_bodies_are_422_not_500(client: TestClient) -> None:
    headers = register(client)
    assert client.get("/api/v1/tasks/not-a-uuid", headers=headers).status_code == 422
    response = client.post(
        "/api/v1/tasks",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert response.status_code == 422


def _all_pages(client: TestClient, headers: dict, query: str = "") -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = client.get(f"/api/v1/tasks?limit=7{query}{suffix}", headers=headers)
        assert page.status_code == 200
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_pagination_walks_every_task_once_newest_first(client: TestClient) -> None:
    headers = register(client)
    created = [create_task(client, headers, title=f"t{i}") for i in range(30)]
    listed = _all_pages(client, headers)
    assert [t["id"] for t in listed] == [t["id"] for t in reversed(created)]


def test_any_cursor_the_schema_allows_is_a_position_to_list_from(client: TestClient) -> None:
    """Cursors are positions (microseconds since 1970, a task id): every string matching the
    documented pattern is accepted, before every task or after them all."""
    headers = register(client)
    created = [create_task(client, headers, title=f"t{i}") for i in range(3)]
    pattern = client.get("/openapi.json").json()["paths"]["/api/v1/tasks"]["get"]["parameters"]
    (cursor,) = [p["schema"] for p in pattern if p["name"] == "cursor"]
    assert cursor["anyOf"][0]["pattern"] == r"^[0-9]{1,16}\.[0-9a-f]{32}$"
    for position, expected in [("0." + "0" * 32, []), ("9" * 16 + "." + "f" * 32, created[::-1])]:
        page = client.get(f"/api/v1/tasks?cursor={position}", headers=headers)
        assert page.status_code == 200, page.text
        assert [t["id"] for t in page.json()["items"]] == [t["id"] for t in expected]


def test_status_filter_pages_only_matching_tasks(client: TestClient) -> None:
    headers = register(client)
    tasks = [create_task(client, headers, title=f"t{i}") for i in range(12)]
    for task in tasks[::3]:
        client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers)
    completed = _all_pages(client, headers, "&status=completed")
    pending = _all_pages(client, headers, "&status=pending")
    assert {t["id"] for t in completed} == {t["id"] for t in tasks[::3]}
    assert all(t["status"] == "completed" for t in completed)
    assert len(pending) == 8


def _filter_fixture(client: TestClient, headers: dict) -> list[dict]:
    """30 tasks, newest last, with every mix of status, priority and tags."""
    priorities = ["low", "medium", "high"]
    tags = [["home"], ["home", "work"], [], ["work: q3"], ["Home"]]
    return [
        create_task(
            client,
            headers,
            title=f"t{i}",
            priority=priorities[i % 3],
            tags=tags[i % 5],
            status="completed" if i % 4 == 0 else "pending",
        )
        for i in range(30)
    ]


@pytest.mark.parametrize(
    "filters",
    [
        {"priority": "high"},
        {"tag": "home"},
        {"tag": "work: q3"},
        {"status": "completed", "priority": "low"},
        {"status": "pending", "tag": "work"},
        {"priority": "medium", "tag": "home"},
        {"status": "completed", "priority": "high", "tag": "home"},
    ],
)
def test_priority_and_tag_filters_page_only_matching_tasks(
    client: TestClient, filters: dict[str, str]
) -> None:
    """Each filter alone and with the others: every matching task once, newest first, across
    pages whose cursors were issued for the filtered list."""
    headers = register(client)
    created = _filter_fixture(client, headers)
    create_task(client, register(client), title="another user's", priority="high", tags=["home"])
    expected = [
        task
        for task in reversed(created)
        if all(
            value in task["tags"] if name == "tag" else task[name] == value
            for name, value in filters.items()
        )
    ]
    query = "".join(f"&{name}={value}" for name, value in filters.items())
    listed = _all_pages(client, headers, query.replace(" ", "%20").replace(":", "%3A"))
    assert expected
    assert [t["id"] for t in listed] == [t["id"] for t in expected]


def test_the_tag_filter_is_exact_and_trimmed_as_tags_are(client: TestClient) -> None:
    headers = register(client)
    home = create_task(client, headers, title="home", tags=["home"])
    upper = create_task(client, headers, title="Home", tags=["Home"])

    def titles(tag: str) -> list[str]:
        page = client.get("/api/v1/tasks", params={"tag": tag}, headers=headers)
        assert page.status_code == 200, page.text
        return [t["title"] for t in page.json()["items"]]

    assert titles("home") == [home["title"]]
    assert titles("Home") == [upper["title"]]
    assert titles("\u00a0home\t") == [home["title"]]
    assert titles("hom") == []
    assert titles("HOME") == []


def test_the_tag_filter_follows_edits_and_deletes(client: TestClient) -> None:
    headers = register(client)
    task = create_task(client, headers, tags=["old", "kept"])
    changed = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"tags": ["kept", "new"]}, headers=headers
    )
    assert changed.status_code == 200

    def ids(tag: str) -> list[str]:
        page = client.get("/api/v1/tasks", params={"tag": tag}, headers=headers)
        return [t["id"] for t in page.json()["items"]]

    assert (ids("old"), ids("kept"), ids("new")) == ([], [task["id"]], [task["id"]])
    untouched = client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "renamed"}, headers=headers
    )
    assert untouched.status_code == 200
    assert ids("new") == [task["id"]]
    assert client.delete(f"/api/v1/tasks/{task['id']}", headers=headers).status_code == 204
    assert (ids("kept"), ids("new")) == ([], [])


def test_pagination_has_no_gaps_or_duplicates_while_writes_happen(client: TestClient) -> None:
    headers = register(client)
    existing = [create_task(client, headers, title=f"old {i}") for i in range(40)]
    stop = threading.Event()
    errors: list[str] = []

    def write_concurrently() -> None:
        while not stop.is_set():
            new = client.post("/api/v1/tasks", json={"title": "new"}, headers=headers)
            if new.status_code != 201:
                errors.append(new.text)
                return
            if (
                client.patch(
                    f"/api/v1/tasks/{new.json()['id']}", json={"title": "edited"}, headers=headers
                ).status_code
                != 200
            ):
                errors.append("patch failed")

    writers = [threading.Thread(target=write_concurrently) for _ in range(3)]
    for writer in writers:
        writer.start()
    try:
        listed = _all_pages(client, headers)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    ids = [t["id"] for t in listed]
    assert errors == []
    assert len(ids) == len(set(ids)), "a task was listed twice"
    assert {t["id"] for t in existing} <= set(ids), "a task that existed throughout was skipped"


# Each list's index, and whether it must be read in order: a tag walks its index and takes each
# task by primary key. With a tag and other filters, fewer rows match than a page holds here,
# so PostgreSQL rightly reads the tag's rows (about 100) and sorts the few that pass.
_WALKS = [
    (TaskFilters(), "ix_tasks_user_created", True),
    (TaskFilters(status=TaskStatus.PENDING), "ix_tasks_user_status_created", True),
    (TaskFilters(priority=TaskPriority.HIGH), "ix_tasks_user_priority_created", True),
    (TaskFilters(tag="tag-3"), "ix_task_tags_user_tag_created", True),
    (
        TaskFilters(status=TaskStatus.PENDING, priority=TaskPriority.LOW, tag="tag-3"),
        "ix_task_tags_user_tag_created",
        False,
    ),
]


@pytest.mark.parametrize(
    ("filters", "index", "ordered"), _WALKS, ids=[f"{i}-{o}" for _, i, o in _WALKS]
)
def test_a_page_walks_an_index_in_order_without_sorting(
    engine: Engine, filters: TaskFilters, index: str, ordered: bool
) -> None:
    """The plan each backend picks for a page, with 20 users of 500 tasks (5 tags among 20
    each) analysed: the filter's index from the cursor on, read in order (no sort) for one
    filter."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    users = [uuid.uuid4() for _ in range(20)]
    with engine.begin() as connection:
        connection.execute(
            insert(User), [{"id": u, "username": u.hex, "password_hash": "x"} for u in users]
        )
        for user in users:
            tasks = [
                {
                    "id": uuid.uuid4(),
                    "user_id": user,
                    "title": f"t{i}",
                    "status": list(TaskStatus)[i % 2],
                    "priority": list(TaskPriority)[i % 3],
                    "tags": [f"tag-{(i + k) % 20}" for k in range(5)],
                    "created_at": start + timedelta(seconds=i),
                    "updated_at": start,
                }
                for i in range(500)
            ]
            connection.execute(insert(Task), tasks)
            connection.execute(
                insert(TaskTag),
                [
                    {"task_id": t["id"], "tag": tag, "user_id": user, "created_at": t["created_at"]}
                    for t in tasks
                    for tag in t["tags"]
                ],
            )
        connection.exec_driver_sql("ANALYZE")
    query = page_query(users[0], filters, 21, Cursor(start + timedelta(seconds=400), uuid.uuid4()))
    with engine.connect() as connection:
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        if engine.dialect.name == "sqlite":
            plan = "\n".join(
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            sorting = "TEMP B-TREE"
        else:
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))
            sorting = "Sort"
    assert index in plan, plan
    if ordered:
        assert sorting not in plan, plan
    if ordered and filters.tag is not None:
        assert re.search(r"tasks_pkey|sqlite_autoindex_tasks_1", plan), plan
