"""Faults under write load, held for a count of answered writes, never for a span of seconds.

A fault held for three seconds holds three seconds of work on a fast machine and a few writes
on a busy one, and a test that then asserts how much happened inside it fails on the busy
machine although nothing is wrong. Here a fault begins once a number of writes were answered,
lasts until a number more were answered while it held, and the run ends after a number more
once it was lifted. Every wait has a generous deadline that fails naming what did not happen.

The fault tests (`tests/faults`) assert the guarantees on these runs; `python -m bench.faults`
reports the write latency before, during and after each fault (p50, p99, max), in one run:

    .venv/bin/python -m bench.faults --json bench/results/faults.json [--rate 25]

It starts a private set of servers (it kills them) and removes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.database import recreate_database
from bench.load import Answer, TaskWriter, WriteLog, register_user, steady_writes
from bench.pipeline import Pipeline
from bench.processes import GUARD_S, ServiceEnv, migrate
from bench.servers import ServerSet, private_servers
from bench.stats import summary_ms

# Upper bound on the writes of one run; the counts end it long before.
MAX_WRITES = 1_000_000
# Retry soon after a broker or database is back, so a run does not wait out a long backoff.
QUICK_RECOVERY = {"TODO_RELAY_MAX_BACKOFF_SECONDS": "2", "TODO_RELAY_IDLE_SECONDS": "0.05"}


@dataclass(frozen=True)
class Fault:
    """Something taken away (`begin`) and given back (`end`); both block until done."""

    name: str
    begin: Callable[[], None]
    end: Callable[[], None]


@dataclass(frozen=True)
class Counts:
    """Answered writes: before the fault begins, sent while it holds, after it is lifted."""

    before: int
    during: int
    after: int


@dataclass
class FaultRun:
    """The load's log and perf_counter instants: the fault began, took hold, was being lifted,
    and was lifted (`restored`: the server is back and says it is ready)."""

    log: WriteLog
    began: float
    held: float
    ended: float
    restored: float

    def before(self) -> list[Answer]:
        return self.log.answered_between(0.0, self.began)

    def during(self) -> list[Answer]:
        """The writes sent once the fault held and answered before it was lifted."""
        return [a for a in self.log.answered_between(self.held, self.ended) if a.due >= self.held]

    def after(self) -> list[Answer]:
        """The writes sent once the fault was lifted: none of them met it."""
        return [a for a in self.log.answers if a.due >= self.restored]


async def until(what: str, done: Callable[[], bool], timeout: float = GUARD_S) -> None:
    """Poll `done` while the event loop runs the load; raise naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.02)


# The write rate of every fault run, the tests' and the benchmark's: under what a 2-core machine
# serves with every server on it. At 100/s the writes queued from the start (baseline p50
# 1.8-3.2 s): the benchmark measured the queue, not the fault, and under a CPU hog the tests'
# backlog grew for as long as a fault lasted.
RATE = 25.0


def settled_after(count: int) -> Callable[[WriteLog, float], bool]:
    """The default end of a run: `count` writes sent and answered since the fault was lifted."""
    return lambda log, restored: sum(a.due >= restored for a in log.answers) >= count


async def under_fault(
    base_url: str,
    writer: TaskWriter,
    fault: Fault,
    counts: Counts,
    *,
    rate: float,
    while_held: Callable[[], Awaitable[None]] | None = None,
    settled: Callable[[WriteLog, float], bool] | None = None,
) -> FaultRun:
    """Steady writes at `rate` per second, with `fault` held as `counts` say.

    `while_held` runs inside the fault (the fault lasts at least until it returns); `settled`
    replaces the default end of the run, `counts.after` writes sent and answered after the fault
    was lifted; it is given the instant `fault.end` returned.
    """
    log, stop = WriteLog(), asyncio.Event()
    load = asyncio.create_task(
        steady_writes(base_url, writer, rate, MAX_WRITES, log=log, stop=stop)
    )
    began = held = ended = restored = 0.0
    try:
        await until(
            f"{counts.before} writes answered before {fault.name}",
            lambda: len(log.answers) >= counts.before,
        )
        began = time.perf_counter()
        await asyncio.to_thread(fault.begin)
        held = time.perf_counter()
        try:
            if while_held is not None:
                await while_held()
            await until(
                f"{counts.during} writes sent and answered while {fault.name}",
                lambda: sum(a.due >= held for a in log.answered_between(held)) >= counts.during,
            )
        finally:
            ended = time.perf_counter()
            await asyncio.to_thread(fault.end)
            restored = time.perf_counter()
        done = settled or settled_after(counts.after)
        await until(f"the load settled after {fault.name}", lambda: done(log, restored))
    finally:
        stop.set()
        await load
    return FaultRun(log, began, held, ended, restored)


def kafka_killed(servers: ServerSet) -> Fault:
    return Fault("Kafka killed", lambda: servers.kill("kafka"), lambda: servers.start("kafka"))


def postgres_stopped(servers: ServerSet) -> Fault:
    return Fault(
        "PostgreSQL stopped", lambda: servers.stop("postgres"), lambda: servers.start("postgres")
    )


def redis_stopped(servers: ServerSet) -> Fault:
    return Fault("Redis stopped", lambda: servers.stop("redis"), lambda: servers.start("redis"))


def redis_frozen(servers: ServerSet) -> Fault:
    """SIGSTOP: Redis accepts connections and never answers, the hang a timeout must bound."""
    return Fault("Redis frozen", lambda: servers.freeze("redis"), lambda: servers.thaw("redis"))


def relay_killed(pipeline: Pipeline) -> Fault:
    return Fault("relay killed", pipeline.relay.kill, pipeline.relay.start)


def fresh_env(servers: ServerSet, name: str) -> ServiceEnv:
    """The servers, with a fresh database of this name at the latest schema."""
    servers.start()  # every server must be up: an earlier run's restore may have failed
    base = servers.env()
    env = replace(base, database_url=recreate_database(base.database_url, name))
    migrate(env)
    return env


# --- the benchmark ----------------------------------------------------------------------------

COUNTS = Counts(before=500, during=500, after=300)


def _latency(answers: list[Answer]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for answer in answers:
        statuses[str(answer.status)] = statuses.get(str(answer.status), 0) + 1
    figures: dict[str, Any] = {"writes": len(answers), "statuses": statuses}
    if answers:
        summary = summary_ms([a.latency_s for a in answers])
        figures.update(p50_ms=summary["p50"], p99_ms=summary["p99"], max_ms=summary["max"])
    return figures


def _measure(
    servers: ServerSet, name: str, make: Callable[[Pipeline], Fault], rate: float
) -> dict[str, Any]:
    env = fresh_env(servers, f"bench_fault_{name}")
    with Pipeline(env, f"bench-{uuid.uuid4().hex[:8]}.", **QUICK_RECOVERY) as pipeline:
        writer = TaskWriter([register_user(pipeline.api.base_url, "fault") for _ in range(4)])
        fault = make(pipeline)
        run = asyncio.run(under_fault(pipeline.api.base_url, writer, fault, COUNTS, rate=rate))
    return {
        "fault": fault.name,
        "held_s": round(run.ended - run.began, 2),
        "baseline": _latency(run.before()),
        "during": _latency(run.during()),
        "after": _latency(run.after()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--rate",
        type=float,
        default=RATE,
        help=f"writes per second (default {RATE:g}); keep it under what the machine serves, or "
        "the figures measure the queue, not the fault",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error(f"--rate must be positive, got {args.rate:g}")
    with private_servers("todo-bench-faults-") as servers:
        faults: dict[str, Callable[[Pipeline], Fault]] = {
            "kafka": lambda _: kafka_killed(servers),
            "postgres": lambda _: postgres_stopped(servers),
            "redis": lambda _: redis_stopped(servers),
            "relay": relay_killed,
        }
        results = {name: _measure(servers, name, make, args.rate) for name, make in faults.items()}
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "rate_per_s": args.rate,
        "counts": {"before": COUNTS.before, "during": COUNTS.during, "after": COUNTS.after},
        "faults": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
