"""PostgreSQL's client programs (pg_dump, pg_restore) of the server's own major version.

pg_dump refuses a server newer than itself, and pg_restore from a newer release may write SQL an
older server does not know, so ``backup`` and ``restore`` use the programs of exactly the
server's major version. Debian (this machine, the Debian-based ``postgres`` images) installs
each major version's programs under ``/usr/lib/postgresql/<major>/bin``, while ``/usr/bin``
holds a wrapper whose choice depends on the local clusters; Alpine images and other systems
have them on ``PATH``. So the search is ``TODO_PG_BINDIR``, then Debian's folder for the
server's major version, then ``PATH``, and each candidate's ``--version`` is checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

DEBIAN_BINDIRS = Path("/usr/lib/postgresql")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class PgToolError(RuntimeError):
    """A client program or the server cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class Connection:
    """A PostgreSQL URL split for the client programs: the password travels in the environment,
    never on a command line that ``ps`` shows."""

    url: URL

    @classmethod
    def parse(cls, sqlalchemy_url: str) -> Connection:
        return cls(make_url(sqlalchemy_url).set(drivername="postgresql"))

    @property
    def database(self) -> str:
        if not self.url.database:
            raise PgToolError(f"the URL {self.url!r} names no database")
        return self.url.database

    def to(self, database: str) -> Connection:
        return Connection(self.url.set(database=database))

    def conninfo(self) -> str:
        """A libpq URL without the password."""
        return self.url.set(password=None).render_as_string(hide_password=False)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.url.password is not None:
            env["PGPASSWORD"] = str(self.url.password)
        return env

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        url = self.url.render_as_string(hide_password=False)
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise PgToolError(f"cannot connect to {self.url!r}: {first_line(exc)}") from None


def server_major(connection: psycopg.Connection[tuple[object, ...]]) -> int:
    return connection.info.server_version // 10000


def program(name: str, major: int, bindir: str | None = None) -> Path:
    """``name`` (pg_dump, pg_restore) of PostgreSQL ``major``, or an error saying what to set."""
    if bindir is not None:
        candidates = [Path(bindir) / name]
    else:
        on_path = shutil.which(name)
        candidates = [DEBIAN_BINDIRS / str(major) / "bin" / name]
        candidates += [Path(on_path)] if on_path else []
    found: list[str] = []
    for candidate in candidates:
        version = _major_of(candidate)
        if version == major:
            return candidate
        if version is not None:
            found.append(f"{candidate} is {version}")
    where = f"TODO_PG_BINDIR={bindir}" if bindir is not None else f"{DEBIAN_BINDIRS} or PATH"
    seen = f" ({'; '.join(found)})" if found else ""
    raise PgToolError(
        f"no {name} of PostgreSQL {major} (the server's major version) in {where}{seen}: "
        f"install PostgreSQL {major}'s client programs or set TODO_PG_BINDIR to their folder"
    )


def _major_of(path: Path) -> int | None:
    if not os.access(path, os.X_OK):
        return None
    match = _VERSION.search(run([str(path), "--version"], timeout=30).stdout)
    return int(match.group(1)) if match else None


def run(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """A client program run to its end; the caller reads its exit code and stderr."""
    return subprocess.run(  # noqa: S603 - argv is a found client program and our own arguments
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def last_error(stderr: str) -> str:
    """The line of a client program's output that says what went wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    if errors:
        return errors[0]
    return lines[-1] if lines else "no message"


def first_line(exc: psycopg.Error) -> str:
    """The server's message without its DETAIL and HINT lines."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
