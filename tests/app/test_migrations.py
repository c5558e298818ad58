"""Alembic up and down, on an empty PostgreSQL database and on SQLite, matching the models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from app import migrate
from app.db import make_engine
from app.models import Base
from tests.app.conftest import make_settings
from tests.app.helpers import add_users

TABLES = {"users", "tasks", "outbox", "user_stats", "processed_events", "revoked_tokens"}
HEAD = "0006"


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
