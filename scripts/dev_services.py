"""Start, stop and report the real PostgreSQL, Redis and Kafka that tests and benchmarks use.

Why a script and not containers: these machines have no Docker. PostgreSQL and Redis come from
Debian packages, the Kafka broker from its jars on Maven Central (resolved by scripts/kafka/pom.xml,
where the version is pinned). Every server binds to 127.0.0.1, keeps its data in a per-user temp
folder (never the repository) and is tracked by a pid file, so `stop` ends only what `start` began.

Run it through scripts/services, which picks the project's virtualenv: the readiness checks use the
same client libraries as the service (psycopg, redis, confluent-kafka).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg
    from confluent_kafka.admin import AdminClient

REPO = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO / "scripts" / "kafka" / "pom.xml"
KAFKA_LOG_CONFIG = REPO / "scripts" / "kafka" / "log4j2.xml"

LOOPBACK = "127.0.0.1"
DB_USER = DB_PASSWORD = DB_NAME = "todo"  # noqa: S105 (a loopback-only development server)
# The topics the service publishes to. Created up front because consumers (unlike producers) do
# not create a missing topic, and a consumer that starts first would otherwise see an error.
TASK_TOPICS = ("task.created", "task.updated", "task.deleted", "task.completed")
TOPIC_PARTITIONS = 3


class ServiceError(Exception):
    """A server could not be installed, started, reached or stopped; the message says why."""


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ServiceError(f"{variable}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


def _timeout() -> float:
    raw = os.environ.get("TODO_SERVICES_TIMEOUT", "120")
    try:
        return float(raw)
    except ValueError:
        raise ServiceError(f"TODO_SERVICES_TIMEOUT={raw!r} is not a number of seconds") from None


@dataclass(frozen=True)
class Places:
    """Where runtime data (temp, per user) and downloads (cache, survives reboots) live.

    Runtime data is under the temp folder, not ~/.cache: as root, PostgreSQL runs as the
    `postgres` user, which cannot enter root's home.
    """

    state: Path
    cache: Path
    env_file: Path

    @staticmethod
    def from_environment() -> Places:
        """Defaults, each overridable so a test can run a second, private set of servers."""
        state = os.environ.get("TODO_SERVICES_DIR") or str(
            Path(tempfile.gettempdir()) / f"todo-services-{os.getuid()}"
        )
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        env_file = os.environ.get("TODO_SERVICES_ENV_FILE") or str(REPO / ".services.env")
        return Places(
            state=Path(state), cache=Path(cache) / "todo-evolution", env_file=Path(env_file)
        )


def _is_root() -> bool:
    return os.geteuid() == 0


def _run(argv: Sequence[str], what: str) -> str:
    """Run a setup command; on failure raise with its output so the cause is on screen."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 (argv is built here, never from input)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        raise ServiceError(f"{what} failed (exit {done.returncode}): {shlex.join(argv)}\n{output}")
    return done.stdout


def _apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages; refreshes the package lists first, as a fresh machine needs."""
    if not _is_root():
        raise ServiceError(
            f"missing Debian packages {' '.join(packages)}: install them with "
            f"`sudo apt-get install {' '.join(packages)}` and run this again"
        )
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    print(f"services: installing {' '.join(packages)} with apt-get", flush=True)
    _run(["apt-get", "update", "-q"], "apt-get update")
    _run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], "apt-get install"
    )


def _process_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _port_free(port: int) -> bool:
    """True when nothing listens on the port (a TIME_WAIT left by our last run does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _port_holder(port: int) -> str:
    """Who listens on the port, as `ss` tells it, to put in the error message."""
    ss = shutil.which("ss")
    if ss is None:
        return "unknown process"
    listing = subprocess.run(  # noqa: S603 (fixed argv)
        [ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    )
    return " ".join(listing.stdout.split()) or "unknown process"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class Service(ABC):
    """One server: how to install, launch, probe and stop it; tracked by its pid file."""

    name: str
    port_variable: str
    #: The signal asking for a clean, prompt shutdown.
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, places: Places, port: int) -> None:
        self.places = places
        self.port = port
        self.home = places.state / f"{self.name}-{port}"
        self.pid_file = places.state / f"{self.name}-{port}.pid"

    @property
    def ports(self) -> dict[int, str]:
        """Every port the server listens on (all must be free to start), with its variable."""
        return {self.port: self.port_variable}

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.log"

    @abstractmethod
    def missing_packages(self) -> list[str]:
        """Debian packages this server needs that are not installed."""

    def prepare(self) -> None:  # noqa: B027 (an optional hook: Redis needs nothing prepared)
        """One-time work before the first launch (initdb, fetching jars); idempotent."""

    @abstractmethod
    def launch(self) -> int:
        """Start the server in the background and return its pid."""

    @abstractmethod
    def answers(self) -> bool:
        """True when a real request (a query, a PING, a metadata request) succeeds."""

    @abstractmethod
    def env_lines(self) -> dict[str, str]:
        """The TODO_* settings that reach this server."""

    def after_ready(self) -> None:  # noqa: B027 (an optional hook: Redis needs no setup)
        """One-time setup that needs the server up (roles, topics); idempotent."""

    def owns(self, pid: int) -> bool:
        """Whether pid is still the server we started (pids are reused after a process ends)."""
        return str(self.home) in _process_cmdline(pid)

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self.owns(pid) else None

    def wait_until_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                self.after_ready()
                return
            if not self.owns(pid):
                raise ServiceError(
                    f"{self.name} exited during start-up; last lines of {self.log_file}:\n"
                    f"{_tail(self.log_file)}"
                )
            time.sleep(0.25)
        raise ServiceError(
            f"{self.name} (pid {pid}) did not answer on {LOOPBACK}:{self.port} within "
            f"{timeout:.0f}s (TODO_SERVICES_TIMEOUT); last lines of {self.log_file}:\n"
            f"{_tail(self.log_file)}"
        )

    def start(self, timeout: float) -> str:
        began = time.monotonic()
        pid = self.running_pid()
        if pid is not None:
            self.wait_until_ready(pid, timeout)
            return f"already running (pid {pid}) on {LOOPBACK}:{self.port}"
        for port, variable in self.ports.items():
            if not _port_free(port):
                raise ServiceError(
                    f"{self.name}: port {LOOPBACK}:{port} is taken by a process that "
                    f"scripts/services did not start ({_port_holder(port)}); stop it or choose "
                    f"another port with {variable}=<port>"
                )
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.prepare()
        pid = self.launch()
        self.pid_file.write_text(f"{pid}\n")
        self.wait_until_ready(pid, timeout)
        return f"started (pid {pid}) on {LOOPBACK}:{self.port} in {time.monotonic() - began:.1f}s"

    def stop(self, timeout: float) -> str:
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.kill(pid, self.stop_signal)
        how = "stopped"
        if not self._exits(pid, timeout):
            # A server that ignores its shutdown signal this long is stuck; its data is
            # crash-safe (WAL, RDB snapshot, Kafka's log recovery), so a hard kill is acceptable.
            os.kill(pid, signal.SIGKILL)
            self._exits(pid, 10)
            how = f"killed after {timeout:.0f}s without a clean shutdown"
        self.pid_file.unlink(missing_ok=True)
        return f"{how} (pid {pid})"

    def _exits(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.owns(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def status(self) -> tuple[bool, str]:
        pid = self.running_pid()
        if pid is None:
            return False, "stopped"
        if not self.answers():
            return False, f"running (pid {pid}) but not answering on {LOOPBACK}:{self.port}"
        return True, f"running (pid {pid}) on {LOOPBACK}:{self.port}, data in {self.home}"


def _spawn(argv: Sequence[str], log_file: Path, cwd: Path) -> int:
    """Start a long-running server detached from this process; output goes to its log.

    Its own session keeps Ctrl-C in the calling shell away from it, and closed standard streams
    keep a caller that captures our output (pytest) from waiting on the server.
    """
    with log_file.open("ab") as log:
        server = subprocess.Popen(  # noqa: S603 (argv is built here, never from input)
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return server.pid


class Postgres(Service):
    name = "postgres"
    port_variable = "TODO_PG_PORT"
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
    stop_signal = signal.SIGINT

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @staticmethod
    def bindir() -> Path | None:
        """Debian's newest server binaries; /usr/local/bin may hold other pg_ctl links."""
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/postgres"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        return found[-1].parent if found else None

    def _as_owner(self, argv: Sequence[str]) -> list[str]:
        """PostgreSQL refuses to run as root, so as root it runs as the `postgres` user."""
        if _is_root():
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def missing_packages(self) -> list[str]:
        return ["postgresql"] if self.bindir() is None else []

    def prepare(self) -> None:
        bindir = self.bindir()
        if bindir is None:
            raise ServiceError("postgresql is installed but no /usr/lib/postgresql/*/bin/postgres")
        if (self.data / "PG_VERSION").exists():
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if _is_root():
            self.places.state.chmod(0o755)
            shutil.chown(self.home, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
            try:
                _run(self._as_owner(["test", "-w", str(self.home)]), "reaching the data folder")
            except ServiceError:
                raise ServiceError(
                    f"postgres: the `postgres` user cannot reach {self.home}: every folder above "
                    "it must let others enter (o+x). Choose a TODO_SERVICES_DIR directly in the "
                    "temp folder (tempfile.mkdtemp() makes one), not inside a private folder "
                    "such as pytest's tmp_path."
                ) from None
        # Local (socket) connections are trusted so this script can create the role; the socket
        # folder is private to the server's user. TCP needs the password.
        _run(
            self._as_owner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ]
            ),
            "initdb",
        )

    def launch(self) -> int:
        bindir = self.bindir()
        assert bindir is not None  # missing_packages() were installed first
        self.socket_dir.chmod(0o700)
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "200",
            # Debezium (bench/debezium.py) reads the outbox from the write-ahead log through a
            # logical replication slot, which needs logical decoding; it costs a little more WAL.
            "wal_level": "logical",
        }
        options = " ".join(f"-c {key}={shlex.quote(value)}" for key, value in settings.items())
        self._drop_stale_locks()
        try:
            _run(
                self._as_owner(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(self.data),
                        "-l",
                        str(self.log_file),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        str(int(_timeout())),
                        "start",
                    ]
                ),
                "pg_ctl start",
            )
        except ServiceError as failure:
            raise ServiceError(
                f"{failure}\nlast lines of {self.log_file}:\n{_tail(self.log_file)}"
            ) from None
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _superuser(self) -> psycopg.Connection[tuple[object, ...]]:
        """The bootstrap superuser over the private socket (trusted, see prepare)."""
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
            connect_timeout=2,
        )

    def _drop_stale_locks(self) -> None:
        """Remove lock files whose pid now belongs to an unrelated process.

        PostgreSQL refuses to start while the pid in postmaster.pid (or the socket's lock file) is
        alive. After a reboot, or a CI run on a machine whose processes were ended, that pid may
        have been reused by something else. A dead pid needs nothing (PostgreSQL ignores it), and
        a pid that is any PostgreSQL process is left alone: its old backends may still be exiting.
        """
        for lock in (self.data / "postmaster.pid", self.socket_dir / f".s.PGSQL.{self.port}.lock"):
            try:
                pid = int(lock.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            cmdline = _process_cmdline(pid)
            if cmdline and "postgres" not in cmdline:
                lock.unlink()

    def after_ready(self) -> None:
        import psycopg
        from psycopg import sql

        # CREATEDB: service tests create a throwaway database each.
        role = sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
            sql.Identifier(DB_USER), sql.Literal(DB_PASSWORD)
        )
        database = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(DB_NAME), sql.Identifier(DB_USER)
        )
        with self._superuser() as admin:
            # CREATE ... IF NOT EXISTS exists for neither roles nor databases.
            for catalog, column, name, create in (
                ("pg_roles", "rolname", DB_USER, role),
                ("pg_database", "datname", DB_NAME, database),
            ):
                exists = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(
                    sql.Identifier(catalog), sql.Identifier(column)
                )
                if admin.execute(exists, (name,)).fetchone() is None:
                    admin.execute(create)
            # Tests drop their databases WITH (FORCE), which must also end an autovacuum worker
            # that happens to be in one; such a process has no role, so only pg_signal_backend
            # may signal it (seen: "must be a member of the role whose process is being
            # terminated or member of pg_signal_backend"). Granting again is a no-op.
            admin.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(DB_USER)))
            # CREATEROLE: `todo-api migrate` creates the migration and app roles, as the
            # cluster's administrator does (app/db_roles.py); tests name theirs uniquely.
            # A role created before this line gains it at the next start.
            admin.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(DB_USER)))
            # REPLICATION: Debezium connects as this role and creates its replication slot.
            admin.execute(sql.SQL("ALTER ROLE {} REPLICATION").format(sql.Identifier(DB_USER)))
        # What the application will do: TCP, password, the todo database.
        tcp_url = self.env_lines()["TODO_DATABASE_URL"].replace("+psycopg", "", 1)
        try:
            with psycopg.connect(tcp_url, connect_timeout=5) as app:
                app.execute("SELECT 1")
        except psycopg.Error as failure:
            raise ServiceError(f"postgres: {DB_USER} cannot connect over TCP: {failure}") from None

    def answers(self) -> bool:
        import psycopg

        try:
            with self._superuser() as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def env_lines(self) -> dict[str, str]:
        return {
            "TODO_DATABASE_URL": (
                f"postgresql+psycopg://{DB_USER}:{DB_PASSWORD}@{LOOPBACK}:{self.port}/{DB_NAME}"
            )
        }


class Redis(Service):
    name = "redis"
    port_variable = "TODO_REDIS_PORT"

    @property
    def config_file(self) -> Path:
        return self.home / "redis.conf"

    def missing_packages(self) -> list[str]:
        return ["redis-server"] if shutil.which("redis-server") is None else []

    def launch(self) -> int:
        redis_server = shutil.which("redis-server")
        assert redis_server is not None  # missing_packages() were installed first
        settings = {
            "bind": LOOPBACK,
            "port": str(self.port),
            "dir": str(self.home),
            "daemonize": "no",
            "logfile": '""',
            # A cache: the service answers from PostgreSQL when it is empty, so an occasional
            # snapshot is plenty and an append-only log would only cost disk writes.
            "save": '"300 1"',
            "appendonly": "no",
            # redis-server rewrites its command line; keep the config path (inside self.home)
            # in it, so `owns` recognises the server as it does the others.
            "proc-title-template": '"{title} {listen-addr} {config-file}"',
        }
        self.config_file.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
        return _spawn([redis_server, str(self.config_file)], self.log_file, self.home)

    def answers(self) -> bool:
        import redis

        try:
            client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=2)
            with contextlib.closing(client):
                return client.ping() is True
        except redis.RedisError:
            return False

    def env_lines(self) -> dict[str, str]:
        return {"TODO_REDIS_URL": f"redis://{LOOPBACK}:{self.port}/0"}


def _quiet_logger() -> logging.Logger:
    """librdkafka logs every refused connection while the broker boots; keep that off screen."""
    logger = logging.getLogger("services.kafka-client")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class Kafka(Service):
    """A single-node KRaft broker: one JVM that is both broker and controller."""

    name = "kafka"
    port_variable = "TODO_KAFKA_PORT"

    def __init__(self, places: Places, port: int, controller_port: int) -> None:
        super().__init__(places, port)
        self.controller_port = controller_port

    @property
    def ports(self) -> dict[int, str]:
        return {self.port: self.port_variable, self.controller_port: "TODO_KAFKA_CONTROLLER_PORT"}

    @property
    def libs(self) -> Path:
        """Jars cached per content of the pom: changing the pinned version fetches anew."""
        digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
        return self.places.cache / f"kafka-{self.version()}-{digest}" / "libs"

    @staticmethod
    def version() -> str:
        found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
        if found is None:
            raise ServiceError(f"{KAFKA_POM} has no <kafka.version> property")
        return found.group(1)

    @staticmethod
    def _java_or_none() -> str | None:
        home = os.environ.get("JAVA_HOME")
        java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
        return java if java is not None and Path(java).exists() else None

    def java(self) -> str:
        java = self._java_or_none()
        if java is None:
            raise ServiceError(
                "no `java` found: Kafka 4 needs Java 17 or newer (JAVA_HOME or PATH)"
            )
        return java

    def missing_packages(self) -> list[str]:
        # Java 17 is what Kafka 4 brokers need, and the one Debian bookworm ships.
        missing = [] if self._java_or_none() else ["openjdk-17-jre-headless"]
        if not self._jars_ready() and shutil.which("mvn") is None:
            missing.append("maven")
        return missing

    def _jars_ready(self) -> bool:
        return (self.libs.parent / "complete").exists()

    def prepare(self) -> None:
        if self._jars_ready():
            return
        print(f"services: fetching Kafka {self.version()} jars with Maven", flush=True)
        staging = self.libs.parent / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        _run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            "fetching Kafka jars with mvn",
        )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        (self.libs.parent / "complete").write_text(f"kafka {self.version()}\n")

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def _write_config(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": str(TOPIC_PARTITIONS),
            "default.replication.factor": "1",
            # The service relies on producing to topics that may not exist yet.
            "auto.create.topics.enable": "true",
            # One broker: internal topics can have one replica only.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests start consumer groups constantly; the default 3 s wait for more members
            # would only slow each of them down.
            "group.initial.rebalance.delay.ms": "0",
        }
        self.config_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))

    def _jvm(self, main_class: str, *args: str) -> list[str]:
        heap = os.environ.get("TODO_KAFKA_HEAP", "512m")
        return [
            self.java(),
            "-Xms128m",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_LOG_CONFIG}",
            "-cp",
            f"{self.libs}/*",
            main_class,
            *args,
        ]

    def launch(self) -> int:
        self._write_config()
        if not (self.data / "meta.properties").exists():
            # KRaft storage is formatted once with a cluster id (16 random bytes, base64url).
            self.format_storage(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        return _spawn(self._jvm("kafka.Kafka", str(self.config_file)), self.log_file, self.home)

    def format_storage(self, cluster_id: str) -> None:
        """Format KRaft storage. The id goes as ``--cluster-id=ID``: one in 64 starts with "-",
        which, given as a separate argument, the tool's parser takes for an option."""
        _run(
            self._jvm(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                str(self.config_file),
            ),
            "kafka storage format",
        )

    def _admin(self) -> AdminClient:
        from confluent_kafka.admin import AdminClient

        return AdminClient(
            {"bootstrap.servers": f"{LOOPBACK}:{self.port}", "socket.timeout.ms": 2000},
            logger=_quiet_logger(),
        )

    def answers(self) -> bool:
        from confluent_kafka import KafkaException

        admin = self._admin()
        try:
            metadata = admin.list_topics(timeout=2)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def after_ready(self) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.cimpl import NewTopic

        admin = self._admin()
        existing = admin.list_topics(timeout=10).topics
        missing = [name for name in TASK_TOPICS if name not in existing]
        if not missing:
            return
        futures = admin.create_topics(
            [
                NewTopic(name, num_partitions=TOPIC_PARTITIONS, replication_factor=1)
                for name in missing
            ]
        )
        for name, future in futures.items():
            try:
                future.result(timeout=30)
            except KafkaException as failure:
                if failure.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise ServiceError(f"kafka: creating topic {name} failed: {failure}") from None

    def env_lines(self) -> dict[str, str]:
        return {"TODO_KAFKA_BOOTSTRAP_SERVERS": f"{LOOPBACK}:{self.port}"}


def all_services(places: Places) -> dict[str, Service]:
    # Defaults sit below Linux's ephemeral range (32768-60999), so an outgoing connection that
    # happens to hold the port on its client side cannot make a fixed port look taken.
    return {
        "postgres": Postgres(places, _port("TODO_PG_PORT", 25432)),
        "redis": Redis(places, _port("TODO_REDIS_PORT", 26379)),
        "kafka": Kafka(
            places,
            _port("TODO_KAFKA_PORT", 29092),
            _port("TODO_KAFKA_CONTROLLER_PORT", 29093),
        ),
    }


def write_env_file(env_file: Path, services: dict[str, Service]) -> None:
    """Write the settings of every server; a reader probes before trusting any of them."""
    lines = [
        "# Written by scripts/services: connection settings of the development servers.\n",
    ]
    for service in services.values():
        lines.extend(f"{key}={value}\n" for key, value in service.env_lines().items())
    partial = env_file.with_name(env_file.name + ".partial")
    partial.write_text("".join(lines))
    partial.replace(env_file)


@contextlib.contextmanager
def exclusive(places: Places) -> Iterator[None]:
    """Serialise concurrent runs (two test sessions starting at once must not both launch)."""
    places.state.mkdir(parents=True, exist_ok=True)
    with (places.state / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/services",
        description="Start, stop or report the development PostgreSQL, Redis and Kafka.",
    )
    parser.add_argument("command", choices=("start", "stop", "restart", "status"))
    parser.add_argument(
        "names",
        nargs="*",
        metavar="service",
        help="postgres, redis or kafka (default: all three)",
    )
    args = parser.parse_args(argv)
    try:
        places = Places.from_environment()
        services = all_services(places)
        unknown = [name for name in args.names if name not in services]
        if unknown:
            raise ServiceError(
                f"unknown service {', '.join(unknown)}; choose from {', '.join(services)}"
            )
        chosen = [services[name] for name in args.names or services]
        timeout = _timeout()
        actions: dict[str, list[Callable[[Service], str]]] = {
            "start": [lambda s: s.start(timeout)],
            "stop": [lambda s: s.stop(timeout)],
            "restart": [lambda s: s.stop(timeout), lambda s: s.start(timeout)],
        }
        if args.command == "status":
            healthy = True
            for service in chosen:
                ok, line = service.status()
                healthy = healthy and ok
                print(f"{service.name}: {line}")
            return 0 if healthy else 3
        with exclusive(places):
            if args.command != "stop":
                missing = sorted({name for s in chosen for name in s.missing_packages()})
                if missing:
                    _apt_install(missing)
            for service in chosen:
                for action in actions[args.command]:
                    print(f"{service.name}: {action(service)}", flush=True)
            if args.command != "stop":
                write_env_file(places.env_file, services)
                print(f"services: settings in {places.env_file}")
    except ServiceError as failure:
        print(f"services: error: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
