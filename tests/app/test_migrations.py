"""Alembic up and down, on an empty PostgreSQL database and on SQLite, matching the models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from app import migrate
from app.db import make_engine
from app.models import Base
from tests.app.conftest import make_settings

TABLES = {"users", "tasks", "outbox", "user_stats", "processed_events"}


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
    assert _revision(empty_engine) == "0003"
    migrate.downgrade(empty_engine, "base")
    assert _tables(empty_engine) == set()
    assert _revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == TABLES


def test_upgrade_is_idempotent(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    assert _revision(empty_engine) == "0003"


def test_migrated_schema_matches_the_models(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
