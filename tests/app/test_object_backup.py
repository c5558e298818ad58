"""`todo-api backup --to` and `restore --from` an object store, against local emulators (S3: moto's
server; Azure: Azurite) and the real PostgreSQL: the dump round-trips, the object appears only
once whole, retention keeps the newest N, and each bad destination fails with one line.

GCS has no emulator here: gs:// is checked as far as the URL and the client it selects, and a
gs:// destination that cannot be reached fails with one line like the others.
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import obstore
import pytest
from fastapi.testclient import TestClient
from obstore.store import AzureStore, GCSStore, S3Store

from app.main import create_app
from app.object_store import ObjectUrl, ObjectUrlError, azure_account, open_store
from tests.app.conftest import cli_env, make_settings
from tests.app.helpers import register
from tests.app.object_stores import (
    Emulator,
    azurite,
    create_azure_container,
    create_s3_bucket,
    free_port,
    s3_server,
)
from tests.app.test_backup import checksums, dying_pg_dump, pg_dump, write_tasks
from tests.app.test_cli import _refused, _run_cli

__all__ = ["azurite", "pg_dump", "s3_server"]
"""Fixtures used by name."""

STAMP = re.compile(r"-[0-9]{8}T[0-9]{6}Z\.dump$")


def _bucket() -> str:
    return f"todo-backups-{uuid.uuid4().hex[:10]}"


def _names(url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The objects under ``url``'s prefix, read back through a client of the test's own."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parsed = ObjectUrl.parse(url)
    found = obstore.list(open_store(parsed), parsed.prefix or None).collect()
    return sorted(meta["path"] for meta in found)


def _backup(url: str, dest: str, env: dict[str, str], *extra: str) -> str:
    done = _run_cli(["backup", "--to", dest, *extra], cli_env(TODO_DATABASE_URL=url, **env))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _round_trip(
    new_postgres: Callable[..., str], dest: str, env: dict[str, str]
) -> tuple[str, dict[str, tuple[int, str]]]:
    """Writes through the API, backs up to ``dest``, writes more, restores: the rows are the
    backup's again."""
    url = new_postgres()
    with TestClient(create_app(make_settings(url))) as client:
        headers = register(client)
        write_tasks(client, headers, 6, "kept")
        printed = _backup(url, dest, env)
        at_backup = checksums(url)
        write_tasks(client, headers, 3, "later")
    assert checksums(url) != at_backup
    done = _run_cli(["restore", "--from", printed], cli_env(TODO_DATABASE_URL=url, **env))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(f"restored {printed} as ")
    assert checksums(url) == at_backup
    return printed, at_backup


def test_s3_round_trip_prints_the_object_url(
    new_postgres: Callable[..., str], s3_server: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _bucket()
    create_s3_bucket(s3_server, bucket)
    dest = f"s3://{bucket}/prod/db"
    printed, _ = _round_trip(new_postgres, dest, s3_server.env)
    assert printed.startswith(f"{dest}/todo_t_")
    assert STAMP.search(printed)
    assert _names(dest, s3_server.env, monkeypatch) == [printed.removeprefix(f"s3://{bucket}/")]


def test_azure_round_trip_prints_the_object_url(
    new_postgres: Callable[..., str], azurite: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _bucket()
    create_azure_container(azurite, container)
    dest = f"az://{container}/prod"
    printed, _ = _round_trip(new_postgres, dest, azurite.env)
    assert printed.startswith(f"{dest}/todo_t_")
    assert _names(dest, azurite.env, monkeypatch) == [printed.removeprefix(f"az://{container}/")]


def test_retention_keeps_the_newest_dumps_and_nothing_else_is_touched(
    new_postgres: Callable[..., str], s3_server: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old dumps of this database beyond --keep go; another database's dumps and other objects
    under the prefix stay."""
    url = new_postgres()
    database = url.rsplit("/", 1)[1]
    bucket = _bucket()
    create_s3_bucket(s3_server, bucket)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    store = open_store(ObjectUrl.parse(f"s3://{bucket}"))
    planted = [
        f"daily/{database}-20200101T000000Z.dump",
        f"daily/{database}-20200102T000000Z.dump",
        f"daily/{database}-20200103T000000Z.dump",
        "daily/other_db-20200101T000000Z.dump",
        f"daily/{database}-notes.txt",
    ]
    for key in planted:
        obstore.put(store, key, b"planted")
    done = _run_cli(
        ["backup", "--to", f"s3://{bucket}/daily", "--keep", "2"],
        cli_env(TODO_DATABASE_URL=url, **s3_server.env),
    )
    assert done.returncode == 0, done.stderr
    newest = done.stdout.strip().splitlines()[-1].removeprefix(f"s3://{bucket}/")
    assert _names(f"s3://{bucket}/daily", s3_server.env, monkeypatch) == sorted(
        [
            newest,
            f"daily/{database}-20200103T000000Z.dump",
            "daily/other_db-20200101T000000Z.dump",
            f"daily/{database}-notes.txt",
        ]
    )
    assert done.stderr.count("pruned ") == 2


def test_a_failed_dump_leaves_no_object_and_prunes_nothing(
    new_postgres: Callable[..., str],
    s3_server: Emulator,
    pg_dump: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pg_dump streams a whole dump, then exits 1 (a connection lost at the end): the upload is
    aborted, so neither an object nor a pending multipart upload is left."""
    url = new_postgres()
    bucket = _bucket()
    create_s3_bucket(s3_server, bucket)
    good = _backup(url, f"s3://{bucket}/p", s3_server.env)
    bindir = dying_pg_dump(pg_dump, tmp_path / "bin")
    done = _run_cli(
        ["backup", "--to", f"s3://{bucket}/p", "--keep", "1"],
        cli_env(TODO_DATABASE_URL=url, TODO_PG_BINDIR=str(bindir), **s3_server.env),
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "todo-api: backup: pg_dump failed, no dump written: "
        "pg_dump: error: connection to server lost"
    )
    assert _names(f"s3://{bucket}/p", s3_server.env, monkeypatch) == [
        good.removeprefix(f"s3://{bucket}/")
    ]
    with urllib.request.urlopen(f"{s3_server.endpoint}/{bucket}?uploads", timeout=30) as response:
        assert b"<Upload>" not in response.read(), "the multipart upload was left open"


def test_destinations_that_cannot_be_written_fail_with_one_line(
    new_postgres: Callable[..., str], s3_server: Emulator, azurite: Emulator, tmp_path: Path
) -> None:
    url = new_postgres()
    closed = f"http://127.0.0.1:{free_port()}"
    for dest, env, reason in [
        ("s3://no-such-bucket-here/p", s3_server.env, "cannot be written"),
        (f"az://{_bucket()}/p", azurite.env, "cannot be written"),
        ("gs://todo-backups/p", {"GOOGLE_BASE_URL": closed, "GOOGLE_BEARER_TOKEN": "t"}, ""),
        ("az://todo-backups/p", {}, "needs its storage account"),
        ("s3://Bad_Bucket/p", {}, "is not a valid S3 bucket name"),
        ("s3://todo-backups//p", {}, "no empty part"),
        ("ftp://host/p", {}, "a URL of a kind not supported"),
    ]:
        line = _refused(tmp_path, ["backup", "--to", dest], TODO_DATABASE_URL=url, **env)
        assert line.startswith("todo-api: backup: the backup destination "), line
        assert reason in line, line


def test_restore_from_an_object_that_is_missing_or_not_a_dump_leaves_the_database(
    new_postgres: Callable[..., str],
    s3_server: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = new_postgres()
    before = checksums(url)
    bucket = _bucket()
    create_s3_bucket(s3_server, bucket)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    obstore.put(open_store(ObjectUrl.parse(f"s3://{bucket}")), "p/notes.dump", b"not a dump\n")
    for source, reason in [
        (f"s3://{bucket}/p/missing.dump", "does not exist"),
        (f"s3://{bucket}/p/notes.dump", "is not a pg_dump custom-format archive"),
    ]:
        line = _refused(
            tmp_path, ["restore", "--from", source], TODO_DATABASE_URL=url, **s3_server.env
        )
        assert line.startswith(f"todo-api: restore: the restore source {source} "), line
        assert reason in line, line
    assert checksums(url) == before


@pytest.mark.parametrize(
    ("value", "scheme", "bucket", "prefix"),
    [
        ("s3://todo-backups/prod/db", "s3", "todo-backups", "prod/db"),
        ("s3://todo.backups", "s3", "todo.backups", ""),
        ("gs://todo_backups/prod/", "gs", "todo_backups", "prod"),
        ("az://backups/prod", "az", "backups", "prod"),
    ],
)
def test_urls_are_split_into_bucket_and_prefix(
    value: str, scheme: str, bucket: str, prefix: str
) -> None:
    url = ObjectUrl.parse(value)
    assert (url.scheme, url.bucket, url.prefix) == (scheme, bucket, prefix)
    assert url.url(url.key("x.dump")) == f"{scheme}://{bucket}/" + (
        f"{prefix}/x.dump" if prefix else "x.dump"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3://ab/p", "not a valid S3 bucket name"),
        ("s3://todo_backups/p", "not a valid S3 bucket name"),
        ("s3://10.0.0.1/p", "not an IP address"),
        ("gs://-todo/p", "not a valid GCS bucket name"),
        ("az://todo--backups/p", "not a valid Azure blob container name"),
        ("az://todo.backups/p", "not a valid Azure blob container name"),
        ("s3://todo-backups/a b", "prefix 'a b'"),
        ("http://todo-backups/p", "is not an object-store URL"),
    ],
)
def test_bad_urls_say_which_part_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ObjectUrlError, match=re.escape(message)):
        ObjectUrl.parse(value)


def test_each_scheme_selects_its_clouds_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client, and for Azure the account, come from the URL and the standard environment;
    no key is configured here, so in a pod the workload identity variables are what sign."""
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "todoprodbackups")
    assert azure_account() == "todoprodbackups"
    s3 = open_store(ObjectUrl.parse("s3://todo-backups/p"))
    gs = open_store(ObjectUrl.parse("gs://todo-backups/p"))
    az = open_store(ObjectUrl.parse("az://backups/p"))
    assert isinstance(s3, S3Store)
    assert s3.config["bucket"] == "todo-backups"
    assert isinstance(gs, GCSStore)
    assert gs.config["bucket"] == "todo-backups"
    assert isinstance(az, AzureStore)
    assert az.config["container_name"] == "backups"
    assert az.config["account_name"] == "todoprodbackups"
