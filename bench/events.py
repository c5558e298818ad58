"""`python -m bench.events`: how fast the event pipeline is, measured on the real servers.

Figures, all from one run against the servers of `scripts/services` (started if needed):

* ``raw_producer_eps``: a bare confluent-kafka producer with the relay's producer settings,
  sending the same CloudEvents to the same broker: the ceiling for the relay.
* ``relay_eps``: outbox rows per second that `todo-api relay` publishes from a backlog, with one
  relay and with two; ``relay_vs_raw`` divides it by the ceiling.
* ``e2e_p50_ms``/``e2e_p95_ms``/``e2e_p99_ms``: from the API's commit of a task change to the
  native consumer's (`todo-api consume`) handler applying its event, under a steady HTTP write
  load.
* ``api_write_p50_ms``/``api_write_p95_ms``/``api_write_p99_ms``: the HTTP write latency under
  that load; ``api_served_rate`` the writes answered 2xx per second (``api_offered_rate`` is
  ``--rate``). ``latency_samples_ms`` keeps every latency measured (``dapr_`` for the Dapr
  leg), for ``--plot FILE.png``, which draws them with `bench.plot`. With ``--api-replicas N``
  every leg's load goes to N `todo-api serve` processes in turn, as a Service spreads it over
  a stack's pods (prod runs two): one Python process uses at most one core.
* The Dapr leg, next: the same API, relay, load and warm-up, with a real daprd (on PATH, from
  scripts/daprd-toolchain) in place of the native consumer, delivering to the event route of a
  `todo-api serve` of its own (as the native consumer is a process of its own). daprd runs with
  the dev stack's own Dapr objects, converted for self-hosted mode (`bench.dapr_self_hosted`).
  ``dapr_e2e_p50_ms``/``dapr_e2e_p95_ms``/``dapr_e2e_p99_ms`` are commit to handler through
  daprd; ``dapr_expected`` counts the outbox rows the load wrote and ``dapr_delivered`` those
  the handler applied (nothing but daprd delivers in that leg). A leg that stops delivering is
  reported with what it delivered, its latencies over those only. ``dapr_overhead_p95_ms`` and
  ``dapr_vs_native_p95`` compare its p95 with the native one of the same run (the seed's
  target: under 50 ms of overhead).
* The Debezium leg (`bench.debezium`): Kafka Connect with Debezium's PostgreSQL connector and its
  outbox EventRouter in place of the relay, reading the same outbox table from the WAL into the
  same topics, keys and payloads. ``debezium_eps`` is measured like ``relay_eps`` (the same
  backlog, from its commit to the broker's append of its last event);
  ``debezium_e2e_p50_ms``/``..._p95_ms``/``..._p99_ms`` under the same load, API and native
  consumer as ``e2e_*``. ``relay_vs_debezium`` divides the relay's figures by Debezium's
  (throughput: above 1 is the relay ahead; p95: below 1 is).
* ``e2e_guarantees``/``debezium_e2e_guarantees``: "ok" when, after the load, every event of the
  leg is on Kafka, per task in commit order, and the handler applied each exactly once
  (`bench.guarantees`, the fault tests' checks); otherwise what failed, and the exit code is 1.

Each run gets its own database and topic prefixes and removes them afterwards, so it neither
sees nor leaves anything behind. This is a measurement, not a test: it is not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import database
from bench.dapr_pipeline import DaprPipeline
from bench.daprd import daprd_binary, daprd_version
from bench.debezium import PRODUCER as DEBEZIUM_PRODUCER
from bench.debezium import DebeziumPipeline, connect_libs, measure_debezium, require_logical_wal
from bench.guarantees import check_delivery
from bench.load import TaskWriter, WriteLog, register_user, steady_writes
from bench.pipeline import Pipeline
from bench.plot import SAMPLES, draw
from bench.processes import REPO, ServiceEnv, migrate, relay_process, wait_until
from bench.raw_producer import raw_producer_eps
from bench.servers import ServerSet
from bench.stats import summary_ms
from bench.topics import create_topics, delete_topics, task_topics
from stacks.render import render_stack

BENCH_DATABASE = "todo_bench"
WARM_UP_S = 5.0
DAPR_STACK = "dev"
# How long the Dapr leg waits for a delivery before it reports the events still missing.
DAPR_STALL_S = 60.0
Settle = Callable[[str, datetime], list[database.OutboxRow]]


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def relay_producer_config(bootstrap: str) -> dict[str, Any]:
    """The relay's own producer settings, so the ceiling is measured like for like."""
    from app.events.relay import KafkaPublisher

    publisher = KafkaPublisher(bootstrap, topic_prefix="", message_timeout_ms=30_000)
    # Callbacks and the logger are the relay's plumbing, not producer tuning.
    return {
        key: value
        for key, value in publisher.producer_config.items()
        if isinstance(value, str | int | float | bool) and key != "bootstrap.servers"
    }


def measure_raw(env: ServiceEnv, count: int, prefix: str) -> float:
    assert env.kafka_bootstrap is not None
    topic = f"{prefix}raw"
    create_topics(env.kafka_bootstrap, [topic])
    events = [database.sample_event(i) for i in range(1_000)]
    values = [event.to_json().encode() for event in events]
    keys = [str(event.data.task.id).encode() for event in events]
    config = relay_producer_config(env.kafka_bootstrap)
    # A run takes a fraction of a second, so one run is at the mercy of a scheduler hiccup;
    # the median of three is the figure.
    bootstrap = env.kafka_bootstrap
    runs = [raw_producer_eps(bootstrap, config, values, keys, count, topic) for _ in range(3)]
    return statistics.median(runs)


def measure_relay(env: ServiceEnv, relays: int, backlog: int, prefix: str, **tuning: str) -> float:
    """Events/s from the commit of a `backlog`-row outbox to the last row marked published.

    The relays are started and warmed (connected, one small batch published) first, so the
    figure is the steady publishing rate, not process start-up.
    """
    assert env.kafka_bootstrap is not None
    create_topics(env.kafka_bootstrap, task_topics(prefix))
    settings = {"TODO_KAFKA_TOPIC_PREFIX": prefix, **tuning}
    processes = [relay_process(env, f"relay{i}", **settings) for i in range(relays)]
    try:
        for process in processes:
            process.start()
        database.insert_backlog(env.database_url, database.WARM_UP_ROWS)
        wait_until("warm-up publishing", lambda: database.backlog(env.database_url) == 0)
        committed = database.insert_backlog(env.database_url, backlog)
        wait_until(
            "the backlog to drain", lambda: database.backlog(env.database_url) == 0, every=0.05
        )
        finished = database.last_published_at(env.database_url)
    finally:
        for process in processes:
            process.stop()
    return backlog / (finished - committed).total_seconds()


def _steady_load(
    pipeline: Pipeline, rate: float, duration: float, settle: Settle
) -> tuple[WriteLog, list[database.OutboxRow]]:
    """A warm-up, then the measured writes through the pipeline's API; the writes' log and
    the outbox rows they made, once `settle` has waited for their handling."""
    api, database_url = pipeline.api, pipeline.env.database_url
    users = [register_user(api.base_url) for _ in range(4)]
    # Warm-up at the measured rate: the consumer has joined its group and the API's
    # connection pool has grown to what this rate needs, so the figures are steady state.
    warm_from = datetime.now(UTC)
    warm_count = int(rate * WARM_UP_S)
    urls = pipeline.base_urls
    asyncio.run(steady_writes(urls, TaskWriter(users), rate=rate, count=warm_count))
    settle(database_url, warm_from)
    since = datetime.now(UTC)
    log = asyncio.run(steady_writes(urls, TaskWriter(users), rate=rate, count=int(rate * duration)))
    return log, settle(database_url, since)


def _summary_ms(values_s: list[float]) -> dict[str, float | None]:
    """Percentiles in ms, or none at all when nothing was measured (a leg that delivered
    nothing)."""
    if not values_s:
        return dict.fromkeys(("p50", "p95", "p99", "max"))
    return dict(summary_ms(values_s))


def _leg_figures(log: WriteLog, rows: list[database.OutboxRow], rate: float) -> dict[str, Any]:
    """Commit to handler over the rows handled, the relay's leg and the HTTP load."""
    e2e = _summary_ms(database.e2e_seconds(rows))
    relay_leg = _summary_ms(database.relay_seconds(rows))
    api_ms = _summary_ms(log.latencies_s)
    non_2xx = sum(n for status, n in log.statuses.items() if not 200 <= status < 300)
    seconds = log.finished - log.started
    return {
        "e2e_p50_ms": e2e["p50"],
        "e2e_p95_ms": e2e["p95"],
        "e2e_p99_ms": e2e["p99"],
        "e2e_max_ms": e2e["max"],
        "commit_to_published_p50_ms": relay_leg["p50"],
        "commit_to_published_p95_ms": relay_leg["p95"],
        "api_write_p50_ms": api_ms["p50"],
        "api_write_p95_ms": api_ms["p95"],
        "api_write_p99_ms": api_ms["p99"],
        "api_writes": log.sent,
        "api_writes_failed": non_2xx + log.transport_errors,
        "api_offered_rate": rate,
        "api_achieved_rate": round(log.sent / seconds, 1),
        "api_served_rate": round((log.sent - non_2xx - log.transport_errors) / seconds, 1),
        "load_seconds": round(seconds, 2),
        SAMPLES: {
            "commit_to_consumer": [round(s * 1000, 3) for s in database.e2e_seconds(rows)],
            "api_write": [round(s * 1000, 3) for s in log.latencies_s],
        },
    }


def _prefixed(prefix: str, figures: dict[str, Any]) -> dict[str, Any]:
    """A leg's figures under its name, beside the native leg's in one JSON object."""
    return {f"{prefix}{name}": value for name, value in figures.items()}


def _checked_leg(
    env: ServiceEnv, pipeline: Pipeline, rate: float, duration: float
) -> dict[str, Any]:
    """The steady load through a pipeline that must deliver everything, with the delivery
    guarantees checked on what it carried."""
    with pipeline:
        log, rows = _steady_load(pipeline, rate, duration, database.wait_handled)
    return {
        **_leg_figures(log, rows, rate),
        "events": len(rows),
        **_guarantees(env, pipeline, rows),
    }


def measure_e2e(
    env: ServiceEnv,
    rate: float,
    duration: float,
    prefix: str,
    *,
    api_replicas: int = 1,
    **tuning: str,
) -> dict[str, Any]:
    """Steady HTTP writes through the API, relay and native consumer; latency at both ends."""
    pipeline = Pipeline(env, prefix, api_replicas=api_replicas, **tuning)
    return _checked_leg(env, pipeline, rate, duration)


def measure_debezium_e2e(
    env: ServiceEnv,
    rate: float,
    duration: float,
    prefix: str,
    *,
    api_replicas: int = 1,
    **tuning: str,
) -> dict[str, Any]:
    """The same load, API and native consumer with Debezium in place of the relay;
    ``debezium_`` figures."""
    with tempfile.TemporaryDirectory(prefix="bench-debezium-") as folder:
        pipeline = DebeziumPipeline(env, prefix, Path(folder), api_replicas=api_replicas, **tuning)
        return _prefixed("debezium_", _checked_leg(env, pipeline, rate, duration))


def _guarantees(
    env: ServiceEnv, pipeline: Pipeline, rows: list[database.OutboxRow]
) -> dict[str, str]:
    assert env.kafka_bootstrap is not None
    verdict = check_delivery(env.kafka_bootstrap, pipeline.topics, env.database_url, rows)
    if verdict != "ok":
        _say(f"{pipeline.relay.name} leg: {verdict}")
    return {"e2e_guarantees": verdict}


def measure_dapr_e2e(
    env: ServiceEnv,
    manifests: list[dict[str, Any]],
    rate: float,
    duration: float,
    prefix: str,
    *,
    api_replicas: int = 1,
    **tuning: str,
) -> dict[str, Any]:
    """The same load, API and relay with daprd delivering the events; ``dapr_`` figures."""
    settle = partial(database.wait_settled, stall_s=DAPR_STALL_S)
    with (
        tempfile.TemporaryDirectory(prefix="bench-dapr-") as folder,
        DaprPipeline(
            env, prefix, manifests, Path(folder), api_replicas=api_replicas, **tuning
        ) as pipeline,
    ):
        log, rows = _steady_load(pipeline, rate, duration, settle)
    delivered = len(rows) - database.unhandled(rows)
    if delivered < len(rows):
        _say(f"daprd delivered {delivered} of {len(rows)} events")
    figures = {"delivered": delivered, "expected": len(rows), **_leg_figures(log, rows, rate)}
    return _prefixed("dapr_", figures)


def dapr_overhead(native_p95_ms: float, dapr_p95_ms: float | None) -> dict[str, float | None]:
    """What daprd adds at p95 over the native consumer of the same run, in ms and as a ratio."""
    if dapr_p95_ms is None:
        return {"dapr_overhead_p95_ms": None, "dapr_vs_native_p95": None}
    return {
        "dapr_overhead_p95_ms": round(dapr_p95_ms - native_p95_ms, 2),
        "dapr_vs_native_p95": round(dapr_p95_ms / native_p95_ms, 2),
    }


def relay_vs_debezium(
    relay_eps: dict[str, float],
    debezium_eps: float,
    e2e: dict[str, Any],
    cdc: dict[str, Any],
) -> dict[str, float | None]:
    """The relay's figures over Debezium's from the same run (issue 15's goal: eps >= 1 with
    one relay, e2e_p95 <= 1)."""
    ratios: dict[str, float | None] = {
        f"eps_{n}_relay{'s' if n != '1' else ''}": round(eps / debezium_eps, 3)
        for n, eps in relay_eps.items()
    }
    p95, cdc_p95 = e2e["e2e_p95_ms"], cdc["debezium_e2e_p95_ms"]
    ratios["e2e_p95"] = None if p95 is None or not cdc_p95 else round(p95 / cdc_p95, 3)
    return ratios


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        # Other work on the machine during the run: the figures move with it.
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _tuning(pairs: Sequence[str]) -> dict[str, str]:
    tuning: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("TODO_"):
            raise SystemExit(f"--set expects TODO_NAME=value, got {pair!r}")
        tuning[key] = value
    return tuning


def run(args: argparse.Namespace) -> dict[str, Any]:
    started_on = machine()
    servers = ServerSet.shared()
    servers.start()
    shared = servers.env()
    assert shared.kafka_bootstrap is not None
    env = replace(
        shared, database_url=database.recreate_database(shared.database_url, BENCH_DATABASE)
    )
    migrate(env)
    require_logical_wal(env.database_url)
    tuning = _tuning(args.set)
    # Before any measuring, so a missing daprd or a broken render fails at once.
    daprd = {"version": daprd_version(daprd_binary()), "stack": DAPR_STACK}
    manifests = render_stack(DAPR_STACK, REPO).manifests()
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics = [f"{prefix}raw"]
    try:
        _say(f"raw producer: {args.backlog} events")
        raw = measure_raw(env, args.backlog, prefix)
        relay_eps: dict[str, float] = {}
        for relays in (1, 2):
            _say(f"relay: {args.backlog}-row backlog, {relays} relay(s)")
            relay_prefix = f"{prefix}relay{relays}."
            topics += task_topics(relay_prefix)
            relay_eps[str(relays)] = measure_relay(
                env, relays, args.backlog, relay_prefix, **tuning
            )
        _say(f"debezium: {args.backlog}-row backlog")
        debezium_prefix = f"{prefix}debezium."
        topics += task_topics(debezium_prefix)
        with tempfile.TemporaryDirectory(prefix="bench-debezium-") as folder:
            debezium_eps = measure_debezium(env, args.backlog, debezium_prefix, Path(folder))
        _say(f"end to end: {args.rate:g} writes/s for {args.duration:g}s")
        e2e_prefix = f"{prefix}e2e."
        topics += task_topics(e2e_prefix)
        replicas = args.api_replicas
        e2e = measure_e2e(
            env, args.rate, args.duration, e2e_prefix, api_replicas=replicas, **tuning
        )
        _say(f"end to end through debezium: {args.rate:g} writes/s for {args.duration:g}s")
        cdc_prefix = f"{prefix}cdc-e2e."
        topics += task_topics(cdc_prefix)
        cdc = measure_debezium_e2e(
            env, args.rate, args.duration, cdc_prefix, api_replicas=replicas, **tuning
        )
        _say(f"end to end through daprd: {args.rate:g} writes/s for {args.duration:g}s")
        dapr_prefix = f"{prefix}dapr."
        topics += task_topics(dapr_prefix)
        dapr = measure_dapr_e2e(
            env, manifests, args.rate, args.duration, dapr_prefix, api_replicas=replicas, **tuning
        )
    finally:
        delete_topics(shared.kafka_bootstrap, topics)
        database.drop_database(shared.database_url, BENCH_DATABASE)
    return {
        "raw_producer_eps": round(raw),
        "relay_eps": {n: round(eps) for n, eps in relay_eps.items()},
        "relay_vs_raw": {n: round(eps / raw, 3) for n, eps in relay_eps.items()},
        "debezium_eps": round(debezium_eps),
        **e2e,
        **cdc,
        "relay_vs_debezium": relay_vs_debezium(relay_eps, debezium_eps, e2e, cdc),
        **dapr,
        **dapr_overhead(e2e["e2e_p95_ms"], dapr["dapr_e2e_p95_ms"]),
        "backlog_rows": args.backlog,
        "api_replicas": args.api_replicas,
        "settings": {
            "producer": relay_producer_config(shared.kafka_bootstrap),
            "overrides": tuning,
            "daprd": daprd,
            "debezium": {"jars": connect_libs().parent.name, "producer": DEBEZIUM_PRODUCER},
        },
        "machine_at_start": started_on,
        "machine_at_end": machine(),
        "commit": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _ms(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _load_line(result: dict[str, Any], leg: str) -> str:
    return (
        f"{result[f'{leg}api_writes']} writes at {result[f'{leg}api_achieved_rate']}/s "
        f"to {result['api_replicas']} API, {result[f'{leg}api_writes_failed']} failed"
    )


def table(result: dict[str, Any]) -> str:
    rows = [
        ("raw_producer_eps", f"{result['raw_producer_eps']:,}", "ceiling"),
        *[
            (f"relay_eps ({n} relay{'s' if n != '1' else ''})", f"{eps:,}", ">= 20,000")
            for n, eps in result["relay_eps"].items()
        ],
        *[
            (f"relay_vs_raw ({n})", f"{ratio:.0%}", ">= 50%")
            for n, ratio in result["relay_vs_raw"].items()
        ],
        ("e2e_p50_ms", _ms(result["e2e_p50_ms"]), ""),
        ("e2e_p95_ms", _ms(result["e2e_p95_ms"]), "< 50"),
        ("e2e_p99_ms", _ms(result["e2e_p99_ms"]), ""),
        ("api_write_p95_ms", _ms(result["api_write_p95_ms"]), "< 25"),
        ("api load", _load_line(result, ""), ""),
        ("e2e_guarantees", result["e2e_guarantees"], "ok"),
        ("debezium_eps", f"{result['debezium_eps']:,}", ""),
        ("debezium_e2e_p50_ms", _ms(result["debezium_e2e_p50_ms"]), ""),
        ("debezium_e2e_p95_ms", _ms(result["debezium_e2e_p95_ms"]), ""),
        ("debezium_e2e_p99_ms", _ms(result["debezium_e2e_p99_ms"]), ""),
        ("debezium_e2e_guarantees", result["debezium_e2e_guarantees"], "ok"),
        ("debezium api load", _load_line(result, "debezium_"), ""),
        *[
            (
                f"relay_vs_debezium {name}",
                _ms(ratio, 2),
                ">= 1" if name.startswith("eps") else "<= 1",
            )
            for name, ratio in result["relay_vs_debezium"].items()
        ],
        ("dapr_e2e_p50_ms", _ms(result["dapr_e2e_p50_ms"]), ""),
        ("dapr_e2e_p95_ms", _ms(result["dapr_e2e_p95_ms"]), ""),
        ("dapr_e2e_p99_ms", _ms(result["dapr_e2e_p99_ms"]), ""),
        ("dapr_overhead_p95_ms", _ms(result["dapr_overhead_p95_ms"]), "< 50"),
        ("dapr_vs_native_p95", _ms(result["dapr_vs_native_p95"], 2), ""),
        (
            "dapr delivered",
            f"{result['dapr_delivered']} of {result['dapr_expected']}",
            "all",
        ),
        ("dapr_api_write_p95_ms", _ms(result["dapr_api_write_p95_ms"]), ""),
        ("dapr api load", _load_line(result, "dapr_"), ""),
    ]
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines = [f"{'figure':<{width}}  {'value':>{value_width}}  target"]
    lines += [f"{name:<{width}}  {value:>{value_width}}  {target}" for name, value, target in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--plot", type=Path, help="also draw them into this PNG (bench.plot)")
    parser.add_argument("--backlog", type=int, default=50_000, help="outbox rows for the relay")
    parser.add_argument("--rate", type=float, default=200.0, help="HTTP writes per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of HTTP load")
    parser.add_argument(
        "--api-replicas",
        type=int,
        default=1,
        help="API servers the load is spread over, in turn (the prod stack runs two)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TODO_NAME=value",
        help="a service setting for the relay, consumer and API (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.backlog < 1 or args.rate <= 0 or args.duration <= 0 or args.api_replicas < 1:
        parser.error("--backlog, --rate, --duration and --api-replicas must be positive")
    result = run(args)
    print(table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.json}", file=sys.stderr)
    if args.plot is not None:
        draw(result, args.plot)
        print(f"figure written to {args.plot}", file=sys.stderr)
    verdicts = (result["e2e_guarantees"], result["debezium_e2e_guarantees"])
    return 0 if verdicts == ("ok", "ok") else 1


if __name__ == "__main__":
    sys.exit(main())
