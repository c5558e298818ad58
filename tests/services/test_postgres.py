"""The PostgreSQL behind `database_url` is a real server the `todo` role can work in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql


def _libpq(database_url: str, dbname: str | None = None) -> str:
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    return url if dbname is None else url.rsplit("/", 1)[0] + f"/{dbname}"


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    """A throwaway database, as service tests will make one each (needs CREATEDB)."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(database_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _libpq(database_url, name)
    finally:
        with psycopg.connect(_libpq(database_url), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_server_is_postgresql_on_loopback_as_todo(database_url: str) -> None:
    with psycopg.connect(_libpq(database_url)) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version_num')::int, current_user,"
            " host(inet_server_addr()), current_database()"
        ).fetchone()
    assert row is not None
    version_num, user, address, database = row
    assert version_num >= 150000
    assert (user, address, database) == ("todo", "127.0.0.1", "todo")


def test_wrong_password_is_refused(database_url: str) -> None:
    wrong = _libpq(database_url).replace("todo:todo@", "todo:not-the-password@", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_uncommitted_rows_are_invisible_to_other_sessions(scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as setup:
        setup.execute("CREATE TABLE item (id int PRIMARY KEY)")
    with psycopg.connect(scratch_database) as writer, psycopg.connect(scratch_database) as reader:
        writer.execute("INSERT INTO item VALUES (1)")
        assert reader.execute("SELECT count(*) FROM item").fetchone() == (0,)
        reader.rollback()
        writer.commit()
        assert reader.execute("SELECT count(*) FROM item").fetchone() == (1,)


def test_constraints_are_enforced(scratch_database: str) -> None:
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE item (id int PRIMARY KEY)")
        conn.execute("INSERT INTO item VALUES (1)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO item VALUES (1)")
