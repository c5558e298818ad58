"""Task routes: thin; rules and queries live in app.services.tasks."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.deps import TasksDep
from app.api.openapi import (
    INVALID,
    TASK_NOT_FOUND,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNREADABLE,
    Responses,
)
from app.models import TaskPriority, TaskStatus
from app.schemas import Tag, TaskCreate, TaskPage, TaskPublic, TaskUpdate
from app.services.tasks import CURSOR_PATTERN, TaskFilters

router = APIRouter(
    prefix="/api/v1/tasks",
    tags=["tasks"],
    responses={**TOO_LARGE, **INVALID, **UNAUTHORIZED, **UNAVAILABLE},
)

# What a client can do next with the task it created: OpenAPI links (to operation ids, which
# are the functions' names: app.api.openapi), which also let a stateful tester follow a task
# through its life.
_NEXT: Responses = {
    status.HTTP_201_CREATED: {
        "description": "The task as saved.",
        "links": {
            target: {"operationId": target, "parameters": {"task_id": "$response.body#/id"}}
            for target in ("get_task", "update_task", "complete_task", "delete_task")
        },
    }
}


@router.post("", status_code=status.HTTP_201_CREATED, responses={**UNREADABLE, **_NEXT})
async def create_task(data: TaskCreate, tasks: TasksDep) -> TaskPublic:
    """Create a task; publishes `task.created`."""
    return await tasks.run(lambda service: service.create(data))


@router.get("")
async def list_tasks(
    tasks: TasksDep,
    status: TaskStatus | None = None,
    priority: TaskPriority | None = None,
    tag: Annotated[
        Tag | None,
        Query(description="Only tasks with this tag, trimmed as a task's tags are; case counts."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> TaskPage:
    """The caller's tasks, newest first, with every filter given; pass `next_cursor` back as
    `cursor`, with the same filters, for the next page."""
    filters = TaskFilters(status=status, priority=priority, tag=tag)
    return await tasks.run(lambda service: service.list(filters, limit=limit, cursor=cursor))


@router.get("/{task_id}", responses=TASK_NOT_FOUND)
async def get_task(task_id: uuid.UUID, tasks: TasksDep) -> TaskPublic:
    return await tasks.run(lambda service: service.get(task_id))


@router.patch("/{task_id}", responses={**UNREADABLE, **TASK_NOT_FOUND})
async def update_task(task_id: uuid.UUID, data: TaskUpdate, tasks: TasksDep) -> TaskPublic:
    """Change the fields sent (`null` clears optional ones); publishes `task.updated`."""
    return await tasks.run(lambda service: service.update(task_id, data))


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=TASK_NOT_FOUND)
async def delete_task(task_id: uuid.UUID, tasks: TasksDep) -> Response:
    """Delete a task; publishes `task.deleted`."""
    await tasks.run(lambda service: service.delete(task_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{task_id}/complete", responses=TASK_NOT_FOUND)
async def complete_task(task_id: uuid.UUID, tasks: TasksDep) -> TaskPublic:
    """Mark a task completed; publishes `task.completed` unless it already was."""
    return await tasks.run(lambda service: service.complete(task_id))
