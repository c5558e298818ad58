"""``todo-api backup`` and ``todo-api restore``: dumps that are whole or absent, restores that
replace the database only once they have succeeded.

A backup is ``pg_dump --format=custom`` into a hidden ``.partial`` file in the destination
folder, flushed to disk and then renamed to ``<database>-<UTC time>.dump``: a rename within a
folder is atomic, so a dump that failed, or a host that died mid-dump, never leaves a file that
looks complete.

A restore never writes into the live database. It restores into a new database, and only when
``pg_restore`` (``--single-transaction --exit-on-error``) succeeded swaps it in: the live one is
closed to new connections, its sessions ended, and in one transaction it is renamed aside
(``<database>_before_restore_<time>``, kept without connections until an operator drops it) and
the new one renamed into its place. Any failure before that transaction commits drops the new
database and leaves the live one as it was.

Roles: both commands connect as ``TODO_DATABASE_ADMIN_URL`` (``migrate``'s administrator) when
it is set, else as ``TODO_DATABASE_URL``'s user, and work on TODO_DATABASE_URL's database. The
app role cannot do either: it has no SELECT on sequences (a dump reads their positions), and a
restore creates and renames databases and recreates objects owned by the migration role.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from app.pg_tools import Connection, first_line, last_error, program, run, server_major

MAINTENANCE_DATABASE = "postgres"
"""Where restore connects to create, rename and drop databases (not the one it replaces)."""
TERMINATE_TIMEOUT_MS = 10_000
"""How long ending one session of the live database may take before the swap gives up."""
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MAX_IDENTIFIER = 63


class BackupInputError(ValueError):
    """A destination or source that cannot be used; nothing was changed."""


class BackupFailedError(RuntimeError):
    """pg_dump, pg_restore or the swap failed; no dump was left, the database is untouched."""


@dataclass(frozen=True)
class Restored:
    database: str
    previous: str | None
    """The replaced database, renamed aside; None when there was none."""


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def _local(value: str, what: str, kind: Literal["folder", "file"]) -> Path:
    """``value`` as an existing folder or file, or one line saying why it is not."""
    if _URL.match(value):
        raise BackupInputError(
            f"{what} {value} is a URL: only a {kind} on a mounted volume is supported in this "
            "version (object stores such as s3://, gs:// and az:// are not)"
        )
    path = Path(value)
    if not (path.is_dir() if kind == "folder" else path.is_file()):
        problem = f"is not a {kind}" if path.exists() else "does not exist"
        raise BackupInputError(f"{what} {value} {problem}")
    return path


def backup(connection: Connection, dest: str, *, bindir: str | None = None) -> Path:
    """Dumps ``connection``'s database into the folder ``dest``; returns the dump's path."""
    folder = _local(dest, "the backup destination", "folder")
    with connection.connect() as server:
        pg_dump = program("pg_dump", server_major(server), bindir)
    final = folder / f"{connection.database}-{_stamp(None)}.dump"
    partial = folder / f".{final.name}.partial"
    try:
        # Dumps hold password hashes: readable by their owner only.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupInputError(
            f"the backup destination {dest} cannot be written: {exc.strerror}"
        ) from None
    dbname = connection.conninfo()
    try:
        done = run(
            [str(pg_dump), "--format=custom", "--file", str(partial), "--dbname", dbname],
            env=connection.env(),
        )
        if done.returncode != 0:
            raise BackupFailedError(f"pg_dump failed, no dump written: {last_error(done.stderr)}")
        _fsync(partial)
        os.replace(partial, final)
        _fsync(folder)
    finally:
        partial.unlink(missing_ok=True)
    return final


def _fsync(path: Path) -> None:
    """The dump's bytes, then the folder's entry, reach the disk before we report success."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _aside_name(database: str, role: str, stamp: str) -> str:
    suffix = f"_{role}_{stamp.lower()}"
    return database[: _MAX_IDENTIFIER - len(suffix)] + suffix


def restore(connection: Connection, source: str, *, bindir: str | None = None) -> Restored:
    """Restores the dump ``source`` as ``connection``'s database; see the module's docstring."""
    path = _local(source, "the restore source", "file")
    target = connection.database
    with connection.to(MAINTENANCE_DATABASE).connect() as server:
        pg_restore = program("pg_restore", server_major(server), bindir)
        listed = run([str(pg_restore), "--list", str(path)], timeout=600)
        if listed.returncode != 0:
            raise BackupInputError(
                f"the restore source {source} is not a pg_dump custom-format archive: "
                f"{last_error(listed.stderr)}"
            )
        stamp = _stamp(None)
        staging = _aside_name(target, "restoring", stamp)
        found = server.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (target,)
        ).fetchone()
        owner = sql.SQL(" OWNER {}").format(sql.Identifier(str(found[0]))) if found else sql.SQL("")
        try:
            server.execute(
                sql.SQL("CREATE DATABASE {}{} TEMPLATE template0").format(
                    sql.Identifier(staging), owner
                )
            )
        except psycopg.Error as exc:
            raise BackupFailedError(
                f"cannot create the database to restore into, {target} is untouched: "
                f"{first_line(exc)}"
            ) from None
        previous = _aside_name(target, "before_restore", stamp) if found else None
        try:
            into = connection.to(staging).conninfo()
            done = run(
                [str(pg_restore), "--exit-on-error", "--single-transaction", "-d", into, str(path)],
                env=connection.env(),
            )
            if done.returncode != 0:
                raise BackupFailedError(
                    f"pg_restore failed, {target} is untouched: {last_error(done.stderr)}"
                )
            _swap(server, target, staging, previous)
        except BaseException:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging))
            )
            raise
    return Restored(database=target, previous=previous)


def _swap(
    server: psycopg.Connection[tuple[object, ...]],
    target: str,
    staging: str,
    previous: str | None,
) -> None:
    """Puts ``staging`` in ``target``'s place, renaming ``target`` to ``previous``, at once."""
    live, new = sql.Identifier(target), sql.Identifier(staging)
    if previous is None:
        server.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(new, live))
        return
    closed = False
    try:
        # No new sessions, then end the open ones: a database in use cannot be renamed.
        server.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(live))
        closed = True
        server.execute(
            "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (TERMINATE_TIMEOUT_MS, target),
        )
        with server.transaction():
            server.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(live, sql.Identifier(previous))
            )
            server.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(new, live))
    except psycopg.Error as exc:
        if closed:
            server.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(live))
        raise BackupFailedError(
            f"could not put the restored database in place, {target} is untouched: "
            f"{first_line(exc)} "
            "(stop the API and the relay, or let the administrator end their sessions: "
            "pg_signal_backend)"
        ) from None
