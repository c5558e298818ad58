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
A backup prefers ``TODO_DATABASE_BACKUP_URL`` when it is set: a login that may read every row
(``pg_read_all_data``) and write nothing, which ``migrate`` provisions (``app/db_roles.py``).

Object stores (``s3://``, ``gs://``, ``az://``: ``app/object_store.py``) have no rename, so the
dump is streamed from ``pg_dump`` straight into the final key as a multipart upload, which the
store makes visible only when it is completed. The upload is completed only after ``pg_dump``
exited 0; a failed dump raises inside the upload, which aborts it, so no object appears. A
restore from a URL first downloads the object into a private temporary file.

Retention: with ``keep``, once a new dump is complete, the dumps of the same database in the
same folder or prefix beyond the newest ``keep`` are deleted. Only names of the exact shape
``<database>-<UTC stamp>.dump`` count, so nothing else there is touched, and at least one whole
dump is always left.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import psycopg
from psycopg import sql

from app.object_store import ObjectUrl, ObjectUrlError, is_object_url, open_store
from app.pg_tools import Connection, first_line, last_error, program, run, server_major

if TYPE_CHECKING:
    from obstore.store import ObjectStore

MAINTENANCE_DATABASE = "postgres"
"""Where restore connects to create, rename and drop databases (not the one it replaces)."""
TERMINATE_TIMEOUT_MS = 10_000
"""How long ending one session of the live database may take before the swap gives up."""
UPLOAD_CHUNK = 8 * 1024 * 1024
"""Bytes of pg_dump's output read at a time, and the multipart upload's part size (S3 asks
at least 5 MiB of every part but the last)."""
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


def dump_names(database: str) -> re.Pattern[str]:
    """The names of ``database``'s dumps: the only files or objects retention deletes."""
    return re.compile(rf"^{re.escape(database)}-[0-9]{{8}}T[0-9]{{6}}Z\.dump$")


def _older(names: list[str], database: str, keep: int | None) -> list[str]:
    """The dumps beyond the newest ``keep``; fixed-width UTC stamps sort as text in time order."""
    pattern = dump_names(database)
    dumps = sorted((name for name in names if pattern.match(name)), reverse=True)
    return dumps[keep:] if keep is not None else []


def _local(value: str, what: str, kind: Literal["folder", "file"]) -> Path:
    """``value`` as an existing folder or file, or one line saying why it is not."""
    if _URL.match(value):
        raise BackupInputError(
            f"{what} {value} is a URL of a kind not supported: use a {kind} on a mounted volume "
            "or an object-store URL (s3://, gs://, az://)"
        )
    path = Path(value)
    if not (path.is_dir() if kind == "folder" else path.is_file()):
        problem = f"is not a {kind}" if path.exists() else "does not exist"
        raise BackupInputError(f"{what} {value} {problem}")
    return path


def _object_url(value: str, what: str) -> ObjectUrl:
    try:
        return ObjectUrl.parse(value)
    except ObjectUrlError as exc:
        raise BackupInputError(f"{what} {exc}") from None


def _store(url: ObjectUrl, what: str) -> ObjectStore:
    try:
        return open_store(url)
    except (ObjectUrlError, ValueError) as exc:
        raise BackupInputError(f"{what} {url} cannot be used: {_one_line(exc)}") from None


_STATUS = re.compile(r"status code: (\d{3} [^:<]+)")
_CAUSE = re.compile(r"(Connection refused|dns error[^,)]*|timed out|certificate[^,)]*)", re.I)


def _one_line(exc: BaseException) -> str:
    """What went wrong, in a few words: obstore's messages carry the whole request chain and the
    server's XML; the HTTP status or the connection's failure is what an operator acts on."""
    text = str(exc).strip()
    status = _STATUS.search(text)
    if status:
        return f"the store answered {status.group(1).strip()}"
    cause = _CAUSE.search(text)
    if cause:
        return cause.group(1)
    first = (text.splitlines() or [type(exc).__name__])[0]
    return first if len(first) <= 200 else first[:197] + "..."


def backup(
    connection: Connection, dest: str, *, bindir: str | None = None, keep: int | None = None
) -> str:
    """Dumps ``connection``'s database into the folder or object-store URL ``dest``, then
    deletes its dumps there beyond the newest ``keep``; returns the dump's path or URL."""
    what = "the backup destination"
    target = _object_url(dest, what) if is_object_url(dest) else _local(dest, what, "folder")
    with connection.connect() as server:
        pg_dump = program("pg_dump", server_major(server), bindir)
    name = f"{connection.database}-{_stamp(None)}.dump"
    if isinstance(target, ObjectUrl):
        return _backup_to_store(connection, pg_dump, target, name, keep)
    return str(_backup_to_folder(connection, pg_dump, target, name, keep))


def _backup_to_folder(
    connection: Connection, pg_dump: Path, folder: Path, name: str, keep: int | None
) -> Path:
    final = folder / name
    partial = folder / f".{final.name}.partial"
    try:
        # Dumps hold password hashes: readable by their owner only.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupInputError(
            f"the backup destination {folder} cannot be written: {exc.strerror}"
        ) from None
    try:
        done = run(
            [
                str(pg_dump),
                "--format=custom",
                "--file",
                str(partial),
                "--dbname",
                connection.conninfo(),
            ],
            env=connection.env(),
        )
        if done.returncode != 0:
            raise BackupFailedError(f"pg_dump failed, no dump written: {last_error(done.stderr)}")
        _fsync(partial)
        os.replace(partial, final)
        _fsync(folder)
    finally:
        partial.unlink(missing_ok=True)
    for old in _older(os.listdir(folder), connection.database, keep):
        (folder / old).unlink(missing_ok=True)
        print(f"pruned {folder / old}", file=sys.stderr)
    return final


def _fsync(path: Path) -> None:
    """The dump's bytes, then the folder's entry, reach the disk before we report success."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _listed(store: ObjectStore, url: ObjectUrl) -> list[str]:
    """The names of the objects directly under ``url``'s prefix."""
    import obstore

    found = obstore.list_with_delimiter(store, url.prefix or None)
    return [meta["path"].rsplit("/", 1)[-1] for meta in found["objects"]]


def _backup_to_store(
    connection: Connection, pg_dump: Path, url: ObjectUrl, name: str, keep: int | None
) -> str:
    import obstore
    from obstore.exceptions import BaseError

    what = "the backup destination"
    store = _store(url, what)
    try:
        # Listing first: a missing bucket or refused credentials fail before any dump runs.
        existing = _listed(store, url)
    except (BaseError, OSError) as exc:
        raise BackupInputError(f"{what} {url} cannot be written: {_one_line(exc)}") from None
    key = url.key(name)
    with tempfile.TemporaryFile() as errors:
        dump = subprocess.Popen(  # noqa: S603 - a found client program and our own arguments
            [str(pg_dump), "--format=custom", "--dbname", connection.conninfo()],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=connection.env(),
        )
        try:
            obstore.put(store, key, _output(dump, errors), chunk_size=UPLOAD_CHUNK)
        except BackupFailedError:
            raise
        except (BaseError, OSError) as exc:
            raise BackupInputError(f"{what} {url} cannot be written: {_one_line(exc)}") from None
        finally:
            if dump.poll() is None:
                dump.kill()
            dump.wait()
    for old in _older([*existing, name], connection.database, keep):
        obstore.delete(store, url.key(old))
        print(f"pruned {url.url(url.key(old))}", file=sys.stderr)
    return url.url(key)


def _output(dump: subprocess.Popen[bytes], errors: IO[bytes]) -> Iterator[bytes]:
    """pg_dump's output; raising at its end, when pg_dump failed, aborts the upload."""
    assert dump.stdout is not None
    while block := dump.stdout.read(UPLOAD_CHUNK):
        yield block
    if dump.wait() != 0:
        errors.seek(0)
        message = last_error(errors.read().decode(errors="replace"))
        raise BackupFailedError(f"pg_dump failed, no dump written: {message}")


def _aside_name(database: str, role: str, stamp: str) -> str:
    suffix = f"_{role}_{stamp.lower()}"
    return database[: _MAX_IDENTIFIER - len(suffix)] + suffix


def restore(connection: Connection, source: str, *, bindir: str | None = None) -> Restored:
    """Restores the dump ``source`` (a file or an object URL) as ``connection``'s database; see
    the module's docstring."""
    what = "the restore source"
    if not is_object_url(source):
        return _restore(connection, _local(source, what, "file"), source, bindir)
    url = _object_url(source, what)
    with tempfile.NamedTemporaryFile(prefix="restore-", suffix=".dump") as local:
        _download(url, what, local)
        return _restore(connection, Path(local.name), source, bindir)


def _download(url: ObjectUrl, what: str, into: IO[bytes]) -> None:
    """The object at ``url`` (its prefix is the key) into ``into``, a private temporary file."""
    import obstore
    from obstore.exceptions import BaseError, NotFoundError

    store = _store(url, what)
    try:
        for block in obstore.get(store, url.prefix).stream(min_chunk_size=UPLOAD_CHUNK):
            into.write(block)
    except (NotFoundError, FileNotFoundError):
        # obstore raises the built-in FileNotFoundError for a missing object.
        raise BackupInputError(f"{what} {url} does not exist") from None
    except (BaseError, OSError) as exc:
        raise BackupInputError(f"{what} {url} cannot be read: {_one_line(exc)}") from None
    into.flush()


def _restore(connection: Connection, path: Path, source: str, bindir: str | None) -> Restored:
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
