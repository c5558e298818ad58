"""Alembic up and down, on an empty PostgreSQL database and on SQLite, matching the models."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import migrate
from app.db import make_engine
from app.models import Base, Task, User
from app.services.tasks import TaskFilters, page_query
from tests.app.conftest import make_settings
from tests.app.helpers import add_users
from tests.app.roles import TABLES as ALL_TABLES

TABLES = ALL_TABLES - {"alembic_version"}
HEAD = "0007"


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        create: Callable[..., str] = request.getfixturevalue("new_postgres")
        url = create(migrated=False)
    else:
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(make_settings(url))
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    assert _tables(empty_engine) == set()
    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == TABLES
    assert _revision(empty_engine) == HEAD
    migrate.downgrade(empty_engine, "base")
    assert _tables(empty_engine) == set()
    assert _revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == TABLES


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    assert _revision(empty_engine) == HEAD


# SQLite cannot reflect the index on lower(username), so autogenerate skips it there;
# test_usernames_differing_only_in_case_fail_the_migration_naming_them checks it by behaviour.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrated_schema_matches_the_models(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_usernames_differing_only_in_case_fail_the_migration_naming_them(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0003")
    add_users(empty_engine, "alice", "ALICE", "Bob", "bob", "bOB", "carol")
    expected = (
        "usernames are becoming case-insensitive, and 2 group(s) of accounts differ only in "
        "case: 'ALICE', 'alice'; 'Bob', 'bOB', 'bob'. Rename or remove all but one account of "
        "each group, then migrate again"
    )
    with pytest.raises(migrate.MigrationRefusedError) as refused:
        migrate.upgrade(empty_engine)
    assert str(refused.value) == expected
    assert _revision(empty_engine) == "0003", "nothing of the refused revision was applied"

    with empty_engine.begin() as connection:
        connection.execute(
            text("UPDATE users SET username = username || '2' WHERE username IN ('ALICE', 'bOB')")
        )
        connection.execute(text("DELETE FROM users WHERE username = 'Bob'"))
    migrate.upgrade(empty_engine)
    assert _revision(empty_engine) == HEAD
    with pytest.raises(IntegrityError):
        add_users(empty_engine, "CAROL")


def test_many_colliding_groups_are_counted_past_the_listed_ones(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0003")
    add_users(empty_engine, *(f"user{i:02d}" for i in range(25)))
    add_users(empty_engine, *(f"USER{i:02d}" for i in range(25)))
    with pytest.raises(migrate.MigrationRefusedError, match=r"'USER19', 'user19' \(and 5 more\)"):
        migrate.upgrade(empty_engine)


def test_tasks_from_before_the_tag_index_are_listed_by_tag(empty_engine: Engine) -> None:
    """Revision 0006 fills the tag index from the tasks already there."""
    migrate.upgrade(empty_engine, "0005")
    user_id = uuid.uuid4()
    start = datetime(2030, 1, 1, tzinfo=UTC)
    tasks = [
        Task(user_id=user_id, title=f"t{i}", tags=tags, created_at=start + timedelta(minutes=i))
        for i, tags in enumerate([["a", "b"], [], ["b"], ["a"]])
    ]
    with Session(empty_engine) as session:
        session.add(User(id=user_id, username="owner", password_hash="x"))
        session.flush()
        session.add_all(tasks)
        session.commit()
        ids = [task.id for task in tasks]
    migrate.upgrade(empty_engine)
    with Session(empty_engine) as session:

        def listed(tag: str) -> list[uuid.UUID]:
            query = page_query(user_id, TaskFilters(tag=tag), limit=10, after=None)
            return [task.id for task in session.scalars(query)]

        assert listed("a") == [ids[3], ids[0]]
        assert listed("b") == [ids[2], ids[0]]
        assert listed("c") == []
