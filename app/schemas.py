"""API shapes: separate Create, Update and Public models, so clients can never set server fields.

Validation lives here; a violation answers 422 with the offending field in ``loc``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.fields import FieldInfo

from app.models import TaskPriority, TaskStatus

CodePoints = tuple[tuple[int, int], ...]
# NUL (PostgreSQL text cannot hold it), lone surrogates (UTF-8 cannot encode them) and the 66
# Unicode non-characters (not for interchange). Refused here, as a 422 naming the field, on
# every backend: SQLite stored NUL and PostgreSQL answered psycopg.DataError, a 500.
_SURROGATES: CodePoints = ((0xD800, 0xDFFF),)
_NON_CHARACTERS: CodePoints = (
    (0xFDD0, 0xFDEF),
    *((plane * 0x10000 + 0xFFFE, plane * 0x10000 + 0xFFFF) for plane in range(17)),
)
# What titles and tags are trimmed of: Unicode's White_Space, listed, since Python's,
# JavaScript's and Rust's ``\s`` each mean something else and the schema must say what we do.
_SPACES: CodePoints = (
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)


def _class(ranges: CodePoints) -> str:
    """A regex character class's members, as literal characters: ECMA-262 (with its ``u``
    flag), Python and Rust read those alike, where escapes of astral characters differ."""
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


_UNSTORABLE = re.compile(f"[\x00{_class(_SURROGATES + _NON_CHARACTERS)}]")
SPACES = "".join(chr(c) for a, b in _SPACES for c in range(a, b + 1))
# The rules above as JSON Schema patterns, for clients and generators. A JSON string cannot hold
# a lone surrogate, so the patterns need not (and, to stay encodable, must not) name them.
STORABLE_PATTERN = f"^[^\x00{_class(_NON_CHARACTERS)}]*$"
# Spaces, then the first other character, then anything storable: "more than spaces", in a
# form a generator draws from quickly (a negated class of spaces first was twice as slow).
NOT_BLANK_PATTERN = (
    f"^[{_class(_SPACES)}]*"
    f"[^\x00{_class(_NON_CHARACTERS + _SPACES)}]"
    f"[^\x00{_class(_NON_CHARACTERS)}]*$"
)


def _storable(value: str) -> str:
    found = _UNSTORABLE.search(value)
    if found is not None:
        raise ValueError(
            f"contains U+{ord(found.group()):04X} at position {found.start()}; NUL, surrogates "
            "and Unicode non-characters are not allowed"
        )
    return value


def _trimmed(value: str) -> str:
    trimmed = value.strip(SPACES)
    if not trimmed:
        raise ValueError("must contain a character other than white space")
    return trimmed


def _text(*, min_length: int = 0, max_length: int | None = None, trim: bool = False) -> FieldInfo:
    """A string's constraints, checked on the string as sent (so ``maxLength`` means what JSON
    Schema says), and its pattern in the schema. A trimmed string must hold more than spaces,
    and is stored without the spaces around it."""
    pattern = NOT_BLANK_PATTERN if trim else STORABLE_PATTERN
    info: FieldInfo = Field(
        min_length=min_length or None,
        max_length=max_length,
        json_schema_extra={"pattern": pattern},
    )
    return info


# Every string a client sends ends with the storable check (after its length limits).
Storable = AfterValidator(_storable)
Trimmed = AfterValidator(_trimmed)
# A form field: an empty value counts as not sent (FastAPI's form parsing), so never empty.
FormText = Annotated[str, _text(min_length=1), Storable]

Title = Annotated[str, _text(min_length=1, max_length=200, trim=True), Storable, Trimmed]
Description = Annotated[str, _text(max_length=2000), Storable]
Tag = Annotated[str, _text(min_length=1, max_length=32, trim=True), Storable, Trimmed]
Tags = Annotated[list[Tag], Field(max_length=20)]
# Checked as sent: the pattern is the whole rule, so surrounding spaces are refused, not trimmed.
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
Password = Annotated[str, _text(min_length=8, max_length=128), Storable]
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _full_date(value: object) -> object:
    """What JSON Schema's ``format: date`` means (RFC 3339's full-date): pydantic alone also
    took a number of days since 1970 (``0``) and a date-time at midnight."""
    if not isinstance(value, str) or _FULL_DATE.fullmatch(value) is None:
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_full_date)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Input):
    username: Username
    password: Password


class LoginForm(BaseModel):
    """OAuth2's password grant (RFC 6749, 4.3), as Swagger UI's Authorize button sends it.

    A form has no null, so nothing here is nullable: a field left out (or sent empty) takes its
    default.
    """

    grant_type: Literal["password"] = "password"
    username: FormText
    password: FormText
    scope: str = ""
    client_id: str = ""
    client_secret: str = ""


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
    due_date: Day | None = None
    tags: Tags = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _distinct(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))


def never_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """A model's ``json_schema_extra`` for fields typed ``X | None = None`` only so that they
    may be left out: the schema shows them as ``X``, since null is refused (or never sent)."""

    def rewrite(schema: dict[str, Any]) -> None:
        for name in names:
            field = schema["properties"][name]
            (kept,) = [option for option in field.pop("anyOf") if option != {"type": "null"}]
            field.pop("default", None)
            field.update(kept)

    return rewrite


# The fields an update may leave out but not send as null.
_NOT_NULL = ("title", "status", "priority", "tags")


class TaskUpdate(_Input):
    """Only the fields sent are changed; ``null`` clears the optional ones."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=never_null(*_NOT_NULL))

    title: Title | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    due_date: Day | None = None
    tags: Tags | None = None

    @field_validator(*_NOT_NULL, mode="before")
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
