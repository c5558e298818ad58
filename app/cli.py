"""`todo-api`: serve | migrate | relay | consume | backup | restore.

``relay`` and ``consume`` stop cleanly on SIGTERM (Kubernetes' stop signal): the batch or message
in hand is finished, so a rolling update does not leave work half done.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from pydantic import ValidationError

from app import migrate
from app.core.config import Settings, get_settings, setting_errors
from app.core.logs import configure_logging
from app.db import make_engine
from app.metrics import Metrics
from app.runtime import Runtime
from app.tracing import Tracing

log = logging.getLogger("app.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    commands.add_parser("relay", help="publish outbox events to Kafka until stopped")
    commands.add_parser("consume", help="apply Kafka events to per-user stats until stopped")
    backup = commands.add_parser(
        "backup", help="write a pg_dump of the database into a folder or an object store"
    )
    backup.add_argument(
        "--to",
        required=True,
        metavar="DEST",
        help="folder, or s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX",
    )
    backup.add_argument(
        "--keep",
        type=_positive,
        metavar="N",
        help="then delete this database's dumps in DEST beyond the newest N",
    )
    restore = commands.add_parser(
        "restore", help="replace the database with a dump, once it restored in full"
    )
    restore.add_argument(
        "--from", required=True, dest="source", metavar="SRC", help="dump file or object URL"
    )
    args = parser.parse_args(argv)

    # JSON from the first line on: reading the settings may already warn (development key).
    configure_logging("INFO")
    try:
        settings = get_settings()
        if args.command == "serve":
            # Only the API signs tokens: it, not the workers, refuses to start without a key.
            _ = settings.signing_key
    except ValidationError as exc:
        for line in setting_errors(exc):
            print(f"todo-api: invalid settings: {line}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"todo-api: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    try:
        match args.command:
            case "serve":
                return _serve(settings, args.host, args.port)
            case "migrate":
                return _migrate(settings)
            case "relay":
                return _relay(settings)
            case "backup" | "restore":
                return _backup_or_restore(settings, args)
            case _:
                return _consume(settings)
    except (migrate.SchemaBehindError, migrate.MigrationRefusedError) as exc:
        print(f"todo-api: {exc}", file=sys.stderr)
        return 2


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from app.main import create_app

    # The lifespan does this too (a no-op then); here it fails with one line and exit 2, where
    # in the lifespan it would be uvicorn's startup traceback.
    _bring_up_to_date(settings)

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def _migrate(settings: Settings) -> int:
    from app.db_roles import RoleError, roles_for

    admin_url = settings.database_admin_url
    try:
        roles = (
            roles_for(
                admin_url,
                settings.database_url,
                settings.database_migration_role,
                monitor_url=settings.database_monitor_url,
                backup_url=settings.database_backup_url,
            )
            if admin_url is not None
            else None
        )
    except RoleError as exc:
        print(f"todo-api: invalid settings: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings, admin_url)
    try:
        migrate.upgrade(engine, roles=roles)
    finally:
        engine.dispose()
    if roles is not None:
        log.info(
            "database schema is at the latest revision, owned by %s; %s may read and write rows",
            roles.migration,
            roles.app,
        )
        for login in roles.logins:
            log.info("%s logs in as a member of %s", login.name, login.member_of)
    else:
        log.info("database schema is at the latest revision")
    return 0


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {value!r})")
    return int(value)


def _backup_or_restore(settings: Settings, args: argparse.Namespace) -> int:
    """One line and exit 2 on bad input or a missing tool, exit 1 when the work itself failed;
    the last line of a backup's output is the dump's path, for scripts."""
    from app import backup
    from app.pg_tools import Connection, PgToolError

    if args.command == "backup" and settings.database_backup_url is not None:
        # A dump needs only reading: the backup role's URL is all the backup Job holds.
        connection = Connection.parse(settings.database_backup_url)
    elif settings.is_sqlite:
        print(
            f"todo-api: {args.command} needs PostgreSQL: TODO_DATABASE_URL is SQLite",
            file=sys.stderr,
        )
        return 2
    else:
        # A restore recreates what the roles own: the administrator, when there is one.
        database = Connection.parse(settings.database_url).database
        login = settings.database_admin_url or settings.database_url
        connection = Connection.parse(login).to(database)
    try:
        if args.command == "backup":
            print(backup.backup(connection, args.to, bindir=settings.pg_bindir, keep=args.keep))
            return 0
        restored = backup.restore(connection, args.source, bindir=settings.pg_bindir)
    except (backup.BackupInputError, PgToolError) as exc:
        print(f"todo-api: {args.command}: {exc}", file=sys.stderr)
        return 2
    except backup.BackupFailedError as exc:
        print(f"todo-api: {args.command}: {exc}", file=sys.stderr)
        return 1
    kept = f"; the replaced one is kept as {restored.previous}" if restored.previous else ""
    print(f"restored {args.source} as {restored.database}{kept}")
    return 0


def _bring_up_to_date(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        migrate.bring_up_to_date(engine, allowed=settings.migrate_on_start)
    finally:
        engine.dispose()


def _serve_metrics(runtime: Runtime) -> None:
    """A worker's metrics on TODO_METRICS_PORT, when that is set."""
    port = runtime.settings.metrics_port
    if port is not None:
        from prometheus_client import start_http_server

        # Every interface: Prometheus scrapes from another pod.
        start_http_server(port, addr="0.0.0.0", registry=runtime.metrics.registry)  # noqa: S104


def _relay(settings: Settings) -> int:
    if not settings.kafka_bootstrap_servers:
        # Without a broker, `serve` applies the events itself (app.events.local).
        log.error("the relay needs TODO_KAFKA_BOOTSTRAP_SERVERS")
        return 2
    runtime = Runtime.open(
        settings, Metrics(), tracing=Tracing.from_settings(settings, "todo-relay")
    )
    runtime.metrics.watch_backlog(runtime.backlog)
    _serve_metrics(runtime)
    stop = _stop_on_signals()
    pruner = threading.Thread(target=runtime.pruner().run, args=(stop,), name="pruner")
    pruner.start()
    try:
        runtime.relay().run(stop)
    finally:
        stop.set()
        pruner.join()
        runtime.close()
    return 0


def _consume(settings: Settings) -> int:
    from app.events.consumer import StatsConsumer

    if not settings.kafka_bootstrap_servers:
        log.error("the consumer needs TODO_KAFKA_BOOTSTRAP_SERVERS")
        return 2
    tracing = Tracing.from_settings(settings, "todo-consumer")
    runtime = Runtime.open(settings, Metrics(), tracing=tracing)
    _serve_metrics(runtime)
    try:
        StatsConsumer(
            runtime.handler,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_consumer_group,
            topic_prefix=settings.kafka_topic_prefix,
            tracer=tracing.tracer,
        ).run(_stop_on_signals())
    finally:
        runtime.close()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
