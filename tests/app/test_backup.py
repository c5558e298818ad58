"""`todo-api backup` and `todo-api restore` against the real PostgreSQL and Kafka: the restore
drill (rows and checksums equal, unpublished events published again and deduped), the swap over
a live database, and the bad inputs, each of which must leave the database as it was.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_sessions
from app.events.handler import Outcome, StatsHandler, parse
from app.main import create_app
from app.metrics import Metrics
from app.models import OutboxEvent
from app.pg_tools import Connection, program, server_major
from tests.app.conftest import cli_env, make_settings
from tests.app.helpers import create_task, read_events, register, value
from tests.app.roles import TABLES, Database, table_owners
from tests.app.test_cli import _refused, _run_cli
from tests.app.test_relay import drain, make_relay

TASKS_BEFORE = 12
"""Tasks written, published and consumed before the backup."""
TASKS_PENDING = 5
"""Tasks written after the relay ran: their events are in the backup, unpublished."""


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _database(url: str) -> str:
    return str(make_url(url).database)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Per table: the row count and the md5 of its rows as text, in a fixed order."""
    with psycopg.connect(_libpq(url), connect_timeout=5) as conn:
        return {
            table: conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), "
                    "'')) FROM {} t"
                ).format(sql.Identifier(table))
            ).fetchone()
            or (0, "")
            for table in sorted(TABLES)
        }


def stats_rows(url: str) -> list[tuple[Any, ...]]:
    """The per-user counts, without the time each row was last changed."""
    with psycopg.connect(_libpq(url), connect_timeout=5) as conn:
        return conn.execute(
            "SELECT user_id, total, pending, completed FROM user_stats ORDER BY user_id"
        ).fetchall()


def unpublished(url: str) -> set[str]:
    with psycopg.connect(_libpq(url), connect_timeout=5) as conn:
        rows = conn.execute("SELECT event_id FROM outbox WHERE published_at IS NULL").fetchall()
    return {str(event_id) for (event_id,) in rows}


def databases_like(url: str, name: str) -> set[str]:
    """``name`` and the databases a restore made beside it (``name_...``)."""
    with psycopg.connect(_libpq(url), connect_timeout=5, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
            (name, name.replace("_", "\\_") + "\\_%"),
        ).fetchall()
    return {str(datname) for (datname,) in rows}


@pytest.fixture
def cleanup(database_url: str) -> Iterator[list[str]]:
    """Database names whose restores (and the databases set aside) are dropped at the end."""
    names: list[str] = []
    yield names
    with psycopg.connect(_libpq(database_url), autocommit=True, connect_timeout=5) as conn:
        for name in names:
            for found in databases_like(database_url, name):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(found))
                )


def backup(url: str, folder: Path, **settings: str) -> Path:
    done = _run_cli(["backup", "--to", str(folder)], cli_env(TODO_DATABASE_URL=url, **settings))
    assert done.returncode == 0, done.stderr
    dump = Path(done.stdout.strip().splitlines()[-1])
    assert dump.parent == folder
    assert dump.name.startswith(f"{_database(url)}-")
    assert sorted(folder.iterdir()) == [dump], "only the finished dump is left"
    assert dump.stat().st_mode & 0o777 == 0o600, "a dump holds password hashes"
    return dump


def restore(url: str, dump: Path, **settings: str) -> str:
    done = _run_cli(["restore", "--from", str(dump)], cli_env(TODO_DATABASE_URL=url, **settings))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def write_tasks(client: TestClient, headers: dict[str, str], count: int, tag: str) -> None:
    """``count`` tasks; every third completed, every fourth then deleted: all four event kinds."""
    for i in range(count):
        task = create_task(client, headers, title=f"{tag} {i}", tags=[tag])
        path = f"/api/v1/tasks/{task['id']}"
        if i % 3 == 0:
            assert client.patch(path, json={"status": "completed"}, headers=headers).is_success
        if i % 4 == 0:
            assert client.delete(path, headers=headers).is_success


def consume_all(sessions: sessionmaker[Session], messages: list[Any]) -> Counter[Outcome]:
    """Every message, in the order read, through the consumers' idempotent handler."""
    handler = StatsHandler(sessions, Metrics())
    outcomes: Counter[Outcome] = Counter()
    for message in messages:
        event = parse(message.value())
        assert event is not None
        outcomes[handler.handle(event)] += 1
    return outcomes


def test_restore_drill(
    new_postgres: Callable[..., str],
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    cleanup: list[str],
) -> None:
    """Write through the API, publish and consume, write more, back up; the live system goes on
    (publishes and consumes the rest); restore into a fresh database, whose rows must equal the
    backup's, then the real relay publishes the backup's unpublished events again and the
    handler, reading every copy, applies each event once: the stats end as the live ones did."""
    live_url = new_postgres()
    settings = make_settings(
        live_url, kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix
    )
    engine = make_engine(settings)
    live = make_sessions(engine)
    with TestClient(create_app(settings)) as client:
        headers = register(client)
        write_tasks(client, headers, TASKS_BEFORE, "before")
        published_before = drain(make_relay(live, kafka_bootstrap, topic_prefix)[0])
        assert published_before > 0
        applied = consume_all(live, read_events(kafka_bootstrap, topic_prefix, published_before))
        assert applied == Counter({Outcome.APPLIED: published_before})
        write_tasks(client, headers, TASKS_PENDING, "pending")

    pending_ids = unpublished(live_url)
    assert pending_ids
    at_backup = checksums(live_url)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    dump = backup(live_url, dumps)

    # The live system goes on after the backup: the pending events are published and applied.
    assert drain(make_relay(live, kafka_bootstrap, topic_prefix)[0]) == len(pending_ids)
    every = read_events(kafka_bootstrap, topic_prefix, published_before + len(pending_ids))
    assert consume_all(live, every) == Counter(
        {Outcome.DUPLICATE: published_before, Outcome.APPLIED: len(pending_ids)}
    )
    live_stats = stats_rows(live_url)
    assert live_stats
    engine.dispose()

    fresh = f"todo_drill_{uuid.uuid4().hex[:12]}"
    cleanup.append(fresh)
    fresh_url = _with_database(live_url, fresh)
    assert restore(fresh_url, dump) == f"restored {dump} as {fresh}"
    assert checksums(fresh_url) == at_backup
    assert unpublished(fresh_url) == pending_ids

    restored_engine = make_engine(make_settings(fresh_url))
    restored = make_sessions(restored_engine)
    try:
        republished = drain(make_relay(restored, kafka_bootstrap, topic_prefix)[0])
        assert republished == len(pending_ids)
        assert unpublished(fresh_url) == set()
        total = published_before + 2 * len(pending_ids)
        every = read_events(kafka_bootstrap, topic_prefix, total)
        copies = Counter(value(message)["id"] for message in every)
        assert len(every) == total
        assert {event_id for event_id, n in copies.items() if n == 2} == pending_ids
        # Backup-time ids are known; each pending event applies once, its repeat is dropped.
        assert consume_all(restored, every) == Counter(
            {
                Outcome.DUPLICATE: published_before + len(pending_ids),
                Outcome.APPLIED: len(pending_ids),
            }
        )
        assert stats_rows(fresh_url) == live_stats
        with restored() as session:
            outbox_ids = set(session.scalars(select(OutboxEvent.event_id)))
        assert {str(i) for i in outbox_ids} == set(copies)
    finally:
        restored_engine.dispose()


def test_restore_over_a_live_database_swaps_it_and_keeps_the_old_one_aside(
    new_postgres: Callable[..., str], tmp_path: Path, cleanup: list[str]
) -> None:
    """The replaced database is renamed aside, closed to connections, with its later rows; a
    session still open on it (an API's pool) is ended, so the swap does not wait for it."""
    url = new_postgres()
    name = _database(url)
    cleanup.append(name)
    with TestClient(create_app(make_settings(url))) as client:
        headers = register(client)
        write_tasks(client, headers, 4, "kept")
        dump = backup(url, tmp_path)
        at_backup = checksums(url)
        write_tasks(client, headers, 3, "later")
    after = checksums(url)
    assert after != at_backup
    with psycopg.connect(_libpq(url), connect_timeout=5, autocommit=True) as held:
        message = restore(url, dump)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    previous = message.rpartition(" kept as ")[2]
    assert message.startswith(f"restored {dump} as {name};")
    assert databases_like(url, name) == {name, previous}
    assert previous.startswith(f"{name}_before_restore_")
    assert checksums(url) == at_backup
    with psycopg.connect(_libpq(url), connect_timeout=5) as conn:
        allowed = conn.execute(
            "SELECT datallowconn FROM pg_database WHERE datname = %s", (previous,)
        ).fetchone()
        assert allowed == (False,), "nothing may write to the replaced database by mistake"
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                sql.Identifier(previous)
            )
        )
    assert checksums(_with_database(url, previous)) == after


def test_backup_refuses_a_destination_it_cannot_write(
    new_postgres: Callable[..., str], tmp_path: Path
) -> None:
    url = new_postgres()
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for dest, reason in [
        ("ftp://todo-backups/prod", "a URL of a kind not supported"),
        ("gs://Todo_Backups", "is not a valid GCS bucket name"),
        (str(tmp_path / "missing"), "does not exist"),
        (str(a_file), "is not a folder"),
    ]:
        line = _refused(tmp_path, ["backup", "--to", dest], TODO_DATABASE_URL=url)
        assert line.startswith(f"todo-api: backup: the backup destination {dest} "), line
        assert reason in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.fixture
def pg_dump(database_url: str) -> Path:
    """The pg_dump ``backup`` itself would pick for the development server."""
    with Connection.parse(database_url).connect() as server:
        return program("pg_dump", server_major(server))


def dying_pg_dump(pg_dump: Path, bindir: Path) -> Path:
    """A folder whose pg_dump runs the real one to its end, then fails as when the connection
    drops at the end: everything was written, and the dump must still count as failed."""
    bindir.mkdir()
    dying = bindir / "pg_dump"
    dying.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = --version ] && exec {pg_dump} --version\n'
        f'{pg_dump} "$@" || exit 3\n'
        'echo "pg_dump: error: connection to server lost" >&2\n'
        "exit 1\n"
    )
    dying.chmod(0o755)
    return bindir


def test_a_failed_dump_leaves_no_file(
    new_postgres: Callable[..., str], pg_dump: Path, tmp_path: Path
) -> None:
    """pg_dump failing after it wrote into the file (here the real one runs, then the wrapper
    exits 1 as when the connection drops at the end) leaves the folder as it was."""
    url = new_postgres()
    real = _run_cli(["backup", "--to", str(tmp_path)], cli_env(TODO_DATABASE_URL=url))
    assert real.returncode == 0, real.stderr
    good = Path(real.stdout.strip().splitlines()[-1])
    bindir = dying_pg_dump(pg_dump, tmp_path / "bin")
    done = _run_cli(
        ["backup", "--to", str(tmp_path)],
        cli_env(TODO_DATABASE_URL=url, TODO_PG_BINDIR=str(bindir)),
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "todo-api: backup: pg_dump failed, no dump written: "
        "pg_dump: error: connection to server lost"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bin", good.name])


def test_restore_refuses_what_is_not_a_dump_and_leaves_the_database(
    new_postgres: Callable[..., str], tmp_path: Path
) -> None:
    url = new_postgres()
    name = _database(url)
    before = checksums(url)
    text = tmp_path / "notes.txt"
    text.write_text("not a dump\n")
    plain = tmp_path / "plain.sql"
    plain.write_text("CREATE TABLE x (id int);\n")
    for source, reason in [
        (str(text), "is not a pg_dump custom-format archive"),
        (str(plain), "is not a pg_dump custom-format archive"),
        (str(tmp_path / "missing.dump"), "does not exist"),
        (str(tmp_path), "is not a file"),
        ("https://backups/todo.dump", "a URL of a kind not supported"),
    ]:
        line = _refused(tmp_path, ["restore", "--from", source], TODO_DATABASE_URL=url)
        assert line.startswith("todo-api: restore: the restore source"), line
        assert reason in line, line
    assert databases_like(url, name) == {name}
    assert checksums(url) == before


def test_a_restore_that_fails_midway_leaves_the_database(
    new_postgres: Callable[..., str], tmp_path: Path
) -> None:
    """A dump missing its last bytes (a copy cut short) keeps its table of contents, so
    pg_restore --list passes, but not all its data: pg_restore fails into the new database,
    which is dropped; the live one is as it was."""
    url = new_postgres()
    name = _database(url)
    with TestClient(create_app(make_settings(url))) as client:
        write_tasks(client, register(client), 6, "cut")
    dump = backup(url, tmp_path)
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[:-16])  # the table of contents is at the start
    with TestClient(create_app(make_settings(url))) as client:
        write_tasks(client, register(client), 2, "after")
    before = checksums(url)
    done = _run_cli(["restore", "--from", str(cut)], cli_env(TODO_DATABASE_URL=url))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Traceback" not in done.stderr
    assert lines[0].startswith(f"todo-api: restore: pg_restore failed, {name} is untouched: ")
    assert databases_like(url, name) == {name}
    assert checksums(url) == before


def test_a_client_of_another_major_version_is_refused(
    new_postgres: Callable[..., str], database_url: str, tmp_path: Path
) -> None:
    """pg_dump refuses newer servers and an older pg_restore may not read a newer dump: the
    programs must be the server's major version, and a wrong TODO_PG_BINDIR says so."""
    url = new_postgres()
    with Connection.parse(database_url).connect() as server:
        major = server_major(server)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    old = bindir / "pg_dump"
    old.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {major - 1}.3'\n")
    old.chmod(0o755)
    line = _refused(
        tmp_path,
        ["backup", "--to", str(tmp_path)],
        TODO_DATABASE_URL=url,
        TODO_PG_BINDIR=str(bindir),
    )
    assert line == (
        f"todo-api: backup: no pg_dump of PostgreSQL {major} (the server's major version) in "
        f"TODO_PG_BINDIR={bindir} ({old} is {major - 1}): install PostgreSQL {major}'s client "
        "programs or set TODO_PG_BINDIR to their folder"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_restore_keeps_the_migration_roles_ownership_and_the_app_roles_grants(
    database: Database,
    cleanup: list[str],
    tmp_path: Path,
) -> None:
    """With migrate's two roles, the restored database is laid out as migrate left it: the
    migration role owns the schema and every table, the app role reads and writes rows and
    creates nothing. The app role alone cannot dump (it may not read sequences), which is why
    both commands connect as TODO_DATABASE_ADMIN_URL."""
    password = "app-password-" + uuid.uuid4().hex
    assert database.migrate(password, tmp_path).returncode == 0
    name = _database(database.admin_url)
    cleanup.append(name)
    app_url = database.app_url(password)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    alone = _run_cli(["backup", "--to", str(dumps)], cli_env(TODO_DATABASE_URL=app_url))
    assert alone.returncode == 1
    assert "permission denied for sequence" in alone.stderr
    assert list(dumps.iterdir()) == []

    with TestClient(create_app(make_settings(app_url, migrate_on_start=False))) as client:
        write_tasks(client, register(client), 3, "roles")
    admin = {
        "TODO_DATABASE_ADMIN_URL": database.admin_url,
        "TODO_DATABASE_MIGRATION_ROLE": database.migration_role,
    }
    dump = backup(app_url, dumps, **admin)
    at_backup = checksums(database.admin_url)
    assert restore(app_url, dump, **admin).startswith(f"restored {dump} as {name};")

    assert checksums(database.admin_url) == at_backup
    assert table_owners(database) == dict.fromkeys(
        {"schema public", *TABLES}, database.migration_role
    )
    with database.connect_as_app(password) as app:
        app.execute("DELETE FROM revoked_tokens")
        assert app.execute("SELECT count(*) FROM tasks").fetchone() == (2,)  # one deleted
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE intruder (id int)")
