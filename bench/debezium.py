"""Debezium in place of the relay: a standalone Kafka Connect worker with Debezium's PostgreSQL
connector and its outbox EventRouter, reading the same outbox table from the write-ahead log.

The peer platform teams pick for a transactional outbox, measured in the same run as the relay
(`bench.events`). The jars come from `scripts/debezium-toolchain` (Maven, cached outside the
repo). The connector is set up to publish what the relay publishes: the same topics (the
``topic`` column under the run's prefix), the same key (the ``task_id`` column, as text) and the
same value (the ``payload`` column: the CloudEvent's JSON, byte for byte). Debezium's headers
are dropped, as the relay sends none. What still differs is in docs/events.md.

Debezium needs ``wal_level=logical`` (the development PostgreSQL has it) and a role with
REPLICATION that owns the outbox table (it creates a publication for it). Each worker creates
its own replication slot and drops it when it stops, so no slot is left to pin the WAL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx
import psycopg
from confluent_kafka import Consumer, TopicPartition
from psycopg.conninfo import conninfo_to_dict

from bench import database
from bench.database import libpq_url
from bench.pipeline import Pipeline
from bench.processes import GUARD_S, REPO, ManagedProcess, ServiceEnv, free_port, wait_until
from bench.topics import create_topics, task_topics

TOOLCHAIN = REPO / "scripts" / "debezium-toolchain"
LOG_CONFIG = REPO / "scripts" / "debezium" / "log4j2.xml"
CONNECTOR = "outbox"
# The relay's delivery guarantees and batching pause (app.events.relay.KafkaPublisher), so the
# producers differ only where Connect and librdkafka differ. Everything else is the default a
# team gets from Connect and Debezium.
PRODUCER = {"enable.idempotence": "true", "acks": "all", "linger.ms": "5"}
# The headers Debezium adds to each record, which the relay does not send: the EventRouter's event
# id, and the connector's context (seen on 3.6.1.Final).
DEBEZIUM_HEADERS = (
    "id",
    "__debezium.context.connectorLogicalName",
    "__debezium.context.connectorName",
    "__debezium.context.taskId",
    "__debezium.context.runId",
)
# Debezium's warm-up before a backlog is measured: more than the relay's WARM_UP_ROWS, because a
# JVM runs interpreted until its JIT has compiled the hot paths (seen: a worker warmed with 200
# rows then sent about 10 records/s for its first 40 s on a loaded machine).
JIT_WARM_UP_ROWS = 5_000
# Topic settings under which a record's timestamp is the broker's append time (`TopicLog`).
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def connect_libs() -> Path:
    """The folder of Connect's and Debezium's jars, fetched on first use."""
    done = subprocess.run(
        [str(TOOLCHAIN)], capture_output=True, text=True, check=False, timeout=GUARD_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/debezium-toolchain failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if found is None or not Path(found).exists():
        raise RuntimeError("no `java` found: Kafka Connect needs Java 17 or newer")
    return found


def require_logical_wal(database_url: str) -> None:
    """Fail at once, with the remedy, on a server that cannot feed Debezium."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
    level = row[0] if row else "unknown"
    if level != "logical":
        raise RuntimeError(
            f"PostgreSQL runs with wal_level={level}; Debezium needs logical. The development "
            "server has it since it was started with it: `scripts/services restart postgres`"
        )


def _properties(values: Mapping[str, str]) -> str:
    # Values are ours (hosts, names, numbers); none holds a character .properties would escape.
    return "".join(f"{key}={value}\n" for key, value in values.items())


class KafkaConnect(ManagedProcess):
    """One standalone worker running the outbox connector for the database of ``env``, publishing
    under ``prefix``; its configuration and offsets live in ``folder``."""

    def __init__(self, env: ServiceEnv, prefix: str, folder: Path, name: str = "debezium") -> None:
        if env.kafka_bootstrap is None:
            raise ValueError("Debezium needs TODO_KAFKA_BOOTSTRAP_SERVERS")
        require_logical_wal(env.database_url)
        self.database_url = env.database_url
        self.rest_url = f"http://127.0.0.1:{free_port()}"
        # Slot and publication names: lower case, digits and underscores, unique per worker.
        self.slot = f"todo_outbox_{uuid.uuid4().hex[:12]}"
        server = conninfo_to_dict(libpq_url(env.database_url))
        worker = {
            "bootstrap.servers": env.kafka_bootstrap,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "offset.storage.file.filename": str(folder / "offsets"),
            "listeners": self.rest_url,
            # Every plugin used ships a ServiceLoader manifest: no scan of 68 jars at start-up.
            "plugin.discovery": "service_load",
            **{f"producer.{key}": value for key, value in PRODUCER.items()},
        }
        connector = {
            "name": CONNECTOR,
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "plugin.name": "pgoutput",
            "database.hostname": str(server["host"]),
            "database.port": str(server["port"]),
            "database.user": str(server["user"]),
            "database.password": str(server["password"]),
            "database.dbname": str(server["dbname"]),
            "topic.prefix": f"{prefix}cdc",
            "table.include.list": "public.outbox",
            "slot.name": self.slot,
            "slot.drop.on.stop": "true",
            "publication.name": self.slot,
            "publication.autocreate.mode": "filtered",
            # Only what is committed from now on, as a relay started now would publish; the
            # rows already in the table are not read again.
            "snapshot.mode": "no_data",
            "transforms": "outbox,noheader",
            "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
            "transforms.outbox.table.field.event.id": "event_id",
            "transforms.outbox.table.field.event.key": "task_id",
            "transforms.outbox.table.field.event.payload": "payload",
            "transforms.outbox.route.by.field": "topic",
            "transforms.outbox.route.topic.replacement": prefix + "${routedByValue}",
            "transforms.noheader.type": "org.apache.kafka.connect.transforms.DropHeaders",
            "transforms.noheader.headers": ",".join(DEBEZIUM_HEADERS),
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "worker.properties").write_text(_properties(worker))
        (folder / "connector.properties").write_text(_properties(connector))
        self.settings = {"worker": worker, "connector": connector}
        argv = [
            java(),
            "-Xms128m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            f"{connect_libs()}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(folder / "worker.properties"),
            str(folder / "connector.properties"),
        ]
        env_vars = {k: v for k, v in os.environ.items() if not k.startswith("TODO_")}
        super().__init__(name, argv, env_vars)

    def _streaming(self) -> bool:
        """The connector and its task run, and the slot exists: every commit from now on is
        decoded."""
        try:
            answer = httpx.get(f"{self.rest_url}/connectors/{CONNECTOR}/status", timeout=5.0)
        except httpx.TransportError:
            return False
        if answer.status_code != 200:
            return False
        status = answer.json()
        states = [status["connector"]["state"], *(task["state"] for task in status["tasks"])]
        if "FAILED" in states:
            raise RuntimeError(f"{self.name}: the connector failed: {status}\n{self.log_tail()}")
        if states.count("RUNNING") != len(states) or len(states) < 2:
            return False
        return self.slot_exists()

    def slot_exists(self) -> bool:
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            ).fetchone()
        return found is not None

    def wait_ready(self, timeout: float = GUARD_S) -> None:
        def streaming() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            return self._streaming()

        wait_until(f"{self.name} to stream the outbox", streaming, timeout=timeout, every=0.25)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker (Debezium drops its slot), and drop the slot if it was killed: a
        forgotten slot keeps every WAL segment from then on, and its database cannot be
        dropped."""
        super().stop(timeout)
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND NOT active",
                (self.slot,),
            )

    def __enter__(self) -> KafkaConnect:
        self.start()
        self.wait_ready()
        return self


class DebeziumPipeline(Pipeline):
    """The same API and native consumer, with Debezium in place of `todo-api relay`.

    The relay marks what it published; Debezium does not write to the database. When the
    pipeline stops, the rows it carried are marked published, so a relay that runs on the same
    database later (the next leg) does not publish them again.
    """

    def __init__(
        self, env: ServiceEnv, prefix: str, folder: Path, *, api_replicas: int = 1, **settings: str
    ) -> None:
        self.folder = folder
        super().__init__(env, prefix, api_replicas=api_replicas, **settings)

    def _relay(self) -> ManagedProcess:
        return KafkaConnect(self.env, self.prefix, self.folder)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            database.mark_all_published(self.env.database_url)


class TopicLog:
    """How many records some topics hold, and when the broker appended the newest of them.

    For a backlog measurement the topics are created with ``APPEND_TIME``: the record timestamp
    is then the broker's, taken as it appends the batch, which with one replica is when it
    acknowledges it, the moment the relay's ``published_at`` follows. (By default it is the
    producer's, and the EventRouter sets it to when the connector processed the change, before
    it is sent.)
    """

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"topic-log-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        metadata = self._consumer.list_topics(timeout=10)
        self._partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in metadata.topics[topic].partitions
        ]

    def ends(self) -> list[TopicPartition]:
        """Each partition with its end offset (the next offset to be written)."""
        return [
            TopicPartition(p.topic, p.partition, self._consumer.get_watermark_offsets(p)[1])
            for p in self._partitions
        ]

    def count(self) -> int:
        return sum(p.offset for p in self.ends())

    def newest_ms(self) -> int:
        """The largest timestamp among the partitions' last records."""
        last = [TopicPartition(p.topic, p.partition, p.offset - 1) for p in self.ends() if p.offset]
        if not last:
            raise RuntimeError("the topics hold no record")
        self._consumer.assign(last)
        stamps: list[int] = []
        while len(stamps) < len(last):
            message = self._consumer.poll(timeout=GUARD_S)
            if message is None:
                raise TimeoutError(f"the last records of {last} did not arrive in {GUARD_S}s")
            if message.error() is None:
                stamps.append(message.timestamp()[1])
        return max(stamps)

    def close(self) -> None:
        self._consumer.close()


def measure_debezium(env: ServiceEnv, backlog: int, prefix: str, folder: Path) -> float:
    """Events/s from the commit of a `backlog`-row outbox to the broker's append of its last
    event, like `bench.events.measure_relay`: Debezium started and warmed up first (streaming, and
    ``JIT_WARM_UP_ROWS`` published)."""
    assert env.kafka_bootstrap is not None
    topics = task_topics(prefix)
    create_topics(env.kafka_bootstrap, topics, APPEND_TIME)
    log = TopicLog(env.kafka_bootstrap, topics)
    try:
        with KafkaConnect(env, prefix, folder):
            database.insert_backlog(env.database_url, JIT_WARM_UP_ROWS)
            wait_until("warm-up publishing", lambda: log.count() == JIT_WARM_UP_ROWS)
            committed = database.insert_backlog(env.database_url, backlog)
            expected = JIT_WARM_UP_ROWS + backlog
            wait_until("the backlog to reach Kafka", lambda: log.count() >= expected, every=0.05)
            finished_ms = log.newest_ms()
            if log.count() != expected:
                raise RuntimeError(f"Debezium published {log.count()} records, not {expected}")
    finally:
        log.close()
        database.mark_all_published(env.database_url)
    return backlog / (finished_ms / 1000 - committed.timestamp())
