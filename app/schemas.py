"""API shapes: separate Create, Update and Public models, so clients can never set server fields.

Validation lives here; a violation answers 422 with the offending field in ``loc``.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.models import TaskPriority, TaskStatus

# NUL (PostgreSQL text cannot hold it), lone surrogates (UTF-8 cannot encode them) and the 66
# Unicode non-characters (not for interchange). Refused here, as a 422 naming the field, on
# every backend: SQLite stored NUL and PostgreSQL answered psycopg.DataError, a 500.
_UNSTORABLE = re.compile(
    "[\x00\ud800-\udfff\ufdd0-\ufdef"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
    )
    + "]"
)


def _storable(value: str) -> str:
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise ValueError(
            f"contains U+{ord(found.group()):04X} at position {found.start()}; NUL, surrogates "
            "and Unicode non-characters are not allowed"
        )
    return value


# Every string a client sends ends with this check (after its constraints, which strip first).
Storable = AfterValidator(_storable)
Text = Annotated[str, Storable]

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable
]
Description = Annotated[str, StringConstraints(max_length=2000), Storable]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32), Storable
]
Tags = Annotated[list[Tag], Field(max_length=20)]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{3,64}$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128), Storable]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Input):
    username: Username
    password: Password


class LoginForm(BaseModel):
    """OAuth2's password grant (RFC 6749, 4.3), as Swagger UI's Authorize button sends it."""

    grant_type: Literal["password"] | None = None
    username: Text
    password: Text
    scope: str = ""
    client_id: str | None = None
    client_secret: str | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (OAuth2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the token expires.")


class TaskCreate(_Input):
    title: Title
    description: Description | None = None
    status: TaskStatus = TaskStatus.PENDING
    priority: TaskPriority = TaskPriority.MEDIUM
    due_date: date | None = None
    tags: Tags = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _distinct(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))


class TaskUpdate(_Input):
    """Only the fields sent are changed; ``null`` clears the optional ones."""

    title: Title | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    due_date: date | None = None
    tags: Tags | None = None

    @field_validator("title", "status", "priority", "tags", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    @field_validator("tags")
    @classmethod
    def _distinct(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else list(dict.fromkeys(tags))


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    due_date: date | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class TaskPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Stats(BaseModel):
    total: int
    pending: int
    completed: int
