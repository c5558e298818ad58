"""Every task change writes its event in the same transaction, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.events import outbox
from app.events.cloudevents import TaskEvent
from app.main import create_app
from app.models import OutboxEvent, Task
from tests.app.helpers import create_task, register


def _events(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    with sessions() as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [{"topic": row.topic, **json.loads(row.payload)} for row in rows]


def test_each_change_writes_one_cloudevent(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    headers = register(client)
    user_id = client.get("/api/v1/auth/me", headers=headers).json()["id"]
    created = client.post(
        "/api/v1/tasks", json={"title": "t"}, headers={**headers, "X-Request-ID": "req-create-1"}
    )
    task_id = created.json()["id"]
    client.patch(f"/api/v1/tasks/{task_id}", json={"title": "t2"}, headers=headers)
    client.patch(f"/api/v1/tasks/{task_id}", json={"title": "t2"}, headers=headers)  # no change
    client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers)
    client.post(f"/api/v1/tasks/{task_id}/complete", headers=headers)  # no change, no event
    client.delete(f"/api/v1/tasks/{task_id}", headers=headers)

    events = _events(sessions)
    assert [e["topic"] for e in events] == [
        "task.created",
        "task.updated",
        "task.completed",
        "task.deleted",
    ]
    assert [e["type"] for e in events] == [
        "todo.task.created",
        "todo.task.updated",
        "todo.task.completed",
        "todo.task.deleted",
    ]
    first = events[0]
    assert first["specversion"] == "1.0"
    assert first["source"] == "/todo-api"
    assert first["subject"] == task_id
    assert first["datacontenttype"] == "application/json"
    assert first["requestid"] == "req-create-1"
    assert created.headers["x-request-id"] == "req-create-1"
    assert first["data"] == {"user_id": user_id, "task": created.json(), "previous_status": None}
    assert events[1]["data"]["previous_status"] == "pending"
    assert events[1]["data"]["task"]["title"] == "t2"
    assert events[2]["data"]["previous_status"] == "pending"
    assert events[2]["data"]["task"]["status"] == "completed"
    assert events[3]["data"]["task"]["status"] == "completed"
    assert len({e["id"] for e in events}) == 4
    for event in events:
        TaskEvent.model_validate({k: v for k, v in event.items() if k != "topic"})


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def failing_enqueue(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    real = outbox.enqueue

    def install(mode: str) -> None:
        def enqueue(session: Session, event: TaskEvent) -> None:
            real(session, event)
            if mode == "crash":
                session.flush()  # both rows are written in the open transaction...
                raise RuntimeError("process died between the writes")  # ...and never committed
            real(session, event)  # the same event id twice: the database refuses the commit

        monkeypatch.setattr("app.services.tasks.outbox.enqueue", enqueue)

    return install


@pytest.mark.parametrize("mode", ["crash", "database refuses the event"])
def test_task_and_event_are_atomic(
    settings: Settings,
    sessions: sessionmaker[Session],
    failing_enqueue: Callable[[str], None],
    mode: str,
) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = register(client)
        kept = create_task(client, headers, title="before the failure")
        failing_enqueue(mode)
        response = client.post("/api/v1/tasks", json={"title": "lost"}, headers=headers)
        update = client.patch(
            f"/api/v1/tasks/{kept['id']}", json={"title": "also lost"}, headers=headers
        )
    assert response.status_code == 500
    assert update.status_code == 500
    assert _count(sessions, Task) == 1
    assert _count(sessions, OutboxEvent) == 1
    with sessions() as session:
        assert session.scalar(select(Task.title)) == "before the failure"
