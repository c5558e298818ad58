"""A database of its own and role names of its own for the tests of least privilege.

Roles are global to the server, which other tests and people share: the ``database`` fixture
(tests/app/conftest.py) names them per test and drops them, with what they own, at the end.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from tests.app.helpers import TODO_API

TABLES = {
    "alembic_version",
    "users",
    "tasks",
    "task_tags",
    "outbox",
    "user_stats",
    "processed_events",
    "revoked_tokens",
}


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def as_role(url: str, user: str, password: str) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


@dataclass
class Database:
    """An empty database, its administrator's URL and this test's role names."""

    admin_url: str
    migration_role: str
    app_role: str
    monitor_role: str
    backup_role: str

    def app_url(self, password: str) -> str:
        return as_role(self.admin_url, self.app_role, password)

    def monitor_url(self, password: str) -> str:
        return as_role(self.admin_url, self.monitor_role, password)

    def backup_url(self, password: str) -> str:
        return as_role(self.admin_url, self.backup_role, password)

    def migrate(
        self, app_password: str, tmp_path: Path, *, logins_password: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``todo-api migrate`` as the backend's init container runs it: URLs in files; with
        ``logins_password``, the monitoring and backup roles' URLs too."""
        urls = {"ADMIN_URL": self.admin_url, "URL": self.app_url(app_password)}
        if logins_password is not None:
            urls["MONITOR_URL"] = self.monitor_url(logins_password)
            urls["BACKUP_URL"] = self.backup_url(logins_password)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TODO_")}
        for name, url in urls.items():
            (tmp_path / name).write_text(url)
            env[f"TODO_DATABASE_{name}_FILE"] = str(tmp_path / name)
        env["TODO_DATABASE_MIGRATION_ROLE"] = self.migration_role
        return subprocess.run(
            [TODO_API, "migrate"], env=env, capture_output=True, text=True, timeout=120
        )

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(libpq(self.admin_url), autocommit=True, connect_timeout=5)

    def connect_as_app(self, password: str) -> psycopg.Connection[Any]:
        return connect(self.app_url(password))


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq(url), autocommit=True, connect_timeout=5)


def table_owners(db: Database) -> dict[str, str]:
    with db.admin() as admin:
        rows = admin.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        schema = admin.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone()
    assert schema is not None
    return {"schema public": schema[0], **dict(rows)}
