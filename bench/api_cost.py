"""`python -m bench.api_cost`: the API's CPU time per request, layer by layer, on the real servers.

Why: a server's latency under load follows from its CPU time per request and the cores it gets.
`bench.events` found the API's write p95 far above its target at 200 writes/s on a 2-core machine
also running PostgreSQL, Redis, Kafka, the relay and the consumer. This measures what one
`todo-api serve` spends, from ``/proc/<pid>/stat`` (user + system), at a steady rate well below
saturation so no request waits for another:

* ``api_cpu_ms.healthz``: ``GET /healthz``, the framework's floor (uvicorn, the middleware,
  routing, a JSON answer; no database, no token).
* ``api_cpu_ms.read``: an authenticated ``GET /api/v1/tasks`` (the first page, as the UI asks),
  served from the Redis cache: the floor plus the token check and the caller's lookup in
  PostgreSQL.
* ``api_cpu_ms.write``: `bench.load`'s write mix (creates, updates, completions), each a
  transaction with its outbox row: what `bench.events` offers at ``--rate``.
* ``raw_commit_cpu_ms``: the baseline, measured in the same run: this process committing one
  outbox row per transaction with psycopg, no framework. ``write_vs_raw_commit`` is the ratio.
* ``writes_per_cpu_second`` and ``cores_for_rate``: what the write cost implies: the writes one
  core serves when it does nothing else, and the cores the API alone needs at ``--rate``.

Each run uses its own database and removes it. A measurement, not a test: not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from bench import database
from bench.events import machine
from bench.http import HttpPool
from bench.load import TASKS, TaskWriter, User, open_loop, register_user, steady_writes
from bench.processes import ApiServer, ServiceEnv, migrate, stat_fields
from bench.servers import ServerSet

BENCH_DATABASE = "todo_bench_api_cost"
WARM_UP_REQUESTS = 100
RAW_COMMITS = 2_000
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


async def paced_gets(base_url: str, path: str, user: User | None, count: int, rate: float) -> None:
    """``count`` GETs of ``path`` at ``rate`` per second, open loop; each must answer 200."""
    client = HttpPool(base_url)
    headers = user.headers if user is not None else None
    statuses: set[int] = set()

    async def get(_: int, __: float) -> None:
        statuses.add((await client.request("GET", path, None, headers)).status_code)

    try:
        await open_loop(rate, count, get, started=time.perf_counter())
    finally:
        await client.close()
    if statuses != {200}:
        raise SystemExit(f"GET {path} answered {sorted(statuses)}, not only 200")


def raw_commit_cpu_ms(database_url: str, commits: int) -> float:
    """This process's CPU per commit of one outbox row: the cost with no framework at all."""
    rows = [database.outbox_row(database.sample_event(i)) for i in range(commits)]
    with psycopg.connect(database.libpq_url(database_url)) as conn:
        started = time.process_time()
        for row in rows:
            conn.execute(database.INSERT_OUTBOX, row)
            conn.commit()
        return (time.process_time() - started) / commits * 1000


def measure_api(env: ServiceEnv, requests: int, rate: float) -> dict[str, float]:
    """The API's CPU per request for each layer, at ``rate`` requests per second."""
    with ApiServer(env, TODO_KAFKA_TOPIC_PREFIX=f"bench-{uuid.uuid4().hex[:8]}.") as api:
        users = [register_user(api.base_url) for _ in range(4)]
        warm = asyncio.run(steady_writes(api.base_url, TaskWriter(users), rate, WARM_UP_REQUESTS))
        if warm.accepted_writes < WARM_UP_REQUESTS:
            raise SystemExit(f"warm-up writes answered {dict(warm.statuses_between(0))}")

        def cost(load: Coroutine[Any, Any, object]) -> float:
            before = cpu_seconds(api.pid)
            asyncio.run(load)
            return round((cpu_seconds(api.pid) - before) / requests * 1000, 2)

        return {
            "healthz": cost(paced_gets(api.base_url, "/healthz", None, requests, rate)),
            "read": cost(paced_gets(api.base_url, TASKS, users[0], requests, rate)),
            "write": cost(steady_writes(api.base_url, TaskWriter(users), rate, requests)),
        }


def run(args: argparse.Namespace) -> dict[str, Any]:
    started_on = machine()
    servers = ServerSet.shared()
    servers.start()
    shared = servers.env()
    env = replace(
        shared, database_url=database.recreate_database(shared.database_url, BENCH_DATABASE)
    )
    migrate(env)
    try:
        raw = [raw_commit_cpu_ms(env.database_url, RAW_COMMITS) for _ in range(3)]
        runs = [measure_api(env, args.requests, args.load_rate) for _ in range(args.runs)]
    finally:
        database.drop_database(shared.database_url, BENCH_DATABASE)
    api = {layer: statistics.median(r[layer] for r in runs) for layer in runs[0]}
    raw_ms = round(statistics.median(raw), 3)
    return {
        "api_cpu_ms": api,
        "api_cpu_ms_runs": runs,
        "raw_commit_cpu_ms": raw_ms,
        "write_vs_raw_commit": round(api["write"] / raw_ms, 1),
        "writes_per_cpu_second": round(1000 / api["write"]),
        "cores_for_rate": {"rate": args.rate, "cores": round(args.rate * api["write"] / 1000, 2)},
        "requests_per_layer": args.requests,
        "load_rate": args.load_rate,
        "machine_at_start": started_on,
        "machine_at_end": machine(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_cost", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--requests", type=int, default=600, help="requests per layer and run")
    parser.add_argument(
        "--load-rate", type=float, default=30.0, help="requests per second while measuring"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="the write rate to size for")
    parser.add_argument("--runs", type=int, default=3, help="API runs; figures are medians")
    args = parser.parse_args(argv)
    if min(args.requests, args.runs) < 1 or min(args.load_rate, args.rate) <= 0:
        parser.error("--requests, --runs, --load-rate and --rate must be positive")
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
