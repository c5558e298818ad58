"""An open-loop HTTP load generator for task writes.

Open loop: write number i is due at `start + i / rate` whatever happened to the earlier ones, and
its latency counts from that due time. A slow server therefore shows up as latency instead of
quietly lowering the offered rate (the "coordinated omission" trap of closed-loop generators).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from bench.http import HttpTransportError, Replicas

REGISTER = "/api/v1/auth/register"
TASKS = "/api/v1/tasks"
# How many writes `steady_writes` keeps open at once.
MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class User:
    """A registered user and the bearer header that authenticates as them."""

    username: str
    headers: dict[str, str]


def register_user(base_url: str, prefix: str = "bench") -> User:
    """Register a fresh user through the API; registering answers with the user's token."""
    username = f"{prefix}-{uuid.uuid4().hex[:12]}"
    password = f"pw-{uuid.uuid4().hex}"
    created = httpx.post(
        f"{base_url}{REGISTER}", json={"username": username, "password": password}, timeout=30.0
    )
    if created.status_code != 201:
        raise RuntimeError(f"register {username}: {created.status_code} {created.text}")
    return User(username, {"Authorization": f"Bearer {created.json()['access_token']}"})


@dataclass(frozen=True)
class Answer:
    """One answered write: when it was due, when its answer came, its status and latency."""

    due: float
    at: float
    status: int
    latency_s: float


@dataclass
class WriteLog:
    """What the load did: each answered write's latency and status, and the tasks it touched."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    # Every answered write, in answer order (perf_counter instants).
    answers: list[Answer] = field(default_factory=list)
    transport_errors: int = 0
    transport_failures: list[str] = field(default_factory=list)
    # task id -> the kinds of the events the API's accepted writes emit, in the order it
    # accepted them.
    accepted: dict[str, list[str]] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    def record(self, status: int, latency_s: float, due: float) -> None:
        self.statuses[status] += 1
        self.latencies_s.append(latency_s)
        self.answers.append(Answer(due, time.perf_counter(), status, latency_s))

    def answered_between(self, start: float, end: float = math.inf) -> list[Answer]:
        """The writes answered between two perf_counter instants."""
        return [answer for answer in self.answers if start <= answer.at <= end]

    def statuses_between(self, start: float, end: float = math.inf) -> Counter[int]:
        """Statuses of the writes answered between two perf_counter instants."""
        return Counter(answer.status for answer in self.answered_between(start, end))

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors

    @property
    def accepted_writes(self) -> int:
        return sum(len(kinds) for kinds in self.accepted.values())


class TaskWriter:
    """Issues a mix of task writes: creates, then updates and completions of earlier tasks.

    Six in ten writes create a task, three update one, one completes one, so every event type
    but `task.deleted` flows; a delete ends a task's stream and would starve later updates.
    Writes to one task are serialised (a lock per task) so the order the API accepted them in is
    the order the events must arrive in.
    """

    def __init__(self, users: list[User]) -> None:
        if not users:
            raise ValueError("users must not be empty")
        self.users = users
        self._owned: list[list[str]] = [[] for _ in users]
        self._completed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    def expected_stats(self, user: User) -> dict[str, int]:
        """The counts the user's stats must reach once every accepted write's event is applied."""
        owned = self._owned[self.users.index(user)]
        completed = sum(1 for task_id in owned if task_id in self._completed)
        return {"total": len(owned), "pending": len(owned) - completed, "completed": completed}

    async def write(self, client: Replicas, i: int, due: float, log: WriteLog) -> None:
        """Write number `i`, due at perf_counter time `due`; record its outcome in `log`."""
        slot = i % len(self.users)
        user, owned = self.users[slot], self._owned[slot]
        kind = i // len(self.users) % 10
        try:
            if kind < 6 or not owned:
                await self._create(client, user, owned, i, due, log)
            else:
                task_id = owned[(i * 7919) % len(owned)]
                action = "completed" if kind == 9 else "updated"
                await self._change(client, user, task_id, action, i, due, log)
        except HttpTransportError as exc:
            log.transport_errors += 1
            log.transport_failures.append(str(exc))

    async def _create(
        self,
        client: Replicas,
        user: User,
        owned: list[str],
        i: int,
        due: float,
        log: WriteLog,
    ) -> None:
        body = {"title": f"bench task {i}", "priority": "high", "tags": ["bench"]}
        response = await client.request("POST", TASKS, body, user.headers)
        log.record(response.status_code, time.perf_counter() - due, due)
        if response.status_code == 201:
            task_id = str(response.json()["id"])
            owned.append(task_id)
            log.accepted[task_id] = ["created"]

    async def _change(
        self,
        client: Replicas,
        user: User,
        task_id: str,
        action: str,
        i: int,
        due: float,
        log: WriteLog,
    ) -> None:
        async with self._locks.setdefault(task_id, asyncio.Lock()):
            # Waiting for an earlier write to the same task is the generator's doing, not the
            # server's: the latency clock starts when this write may go.
            start = max(due, time.perf_counter())
            if action == "completed":
                response = await client.request(
                    "POST", f"{TASKS}/{task_id}/complete", None, user.headers
                )
            else:
                body = {"description": f"revision {i}"}
                response = await client.request("PATCH", f"{TASKS}/{task_id}", body, user.headers)
            log.record(response.status_code, time.perf_counter() - start, due)
            if response.status_code != 200:
                return
            # Completing a completed task is a no-op that emits no event (API contract).
            if action == "completed":
                if task_id in self._completed:
                    return
                self._completed.add(task_id)
            log.accepted[task_id].append(action)


async def open_loop(
    rate: float,
    count: int,
    send: Callable[[int, float], Awaitable[None]],
    *,
    started: float,
    stop: asyncio.Event | None = None,
) -> None:
    """Start ``send(i, due)`` for i in ``range(count)`` at ``started + i / rate``, whatever the
    earlier ones are doing, and wait for them all; with ``stop``, stop starting once it is set."""
    if rate <= 0 or count <= 0:
        raise ValueError(f"rate and count must be positive, got rate={rate} count={count}")
    pending: set[asyncio.Task[None]] = set()
    for i in range(count):
        if stop is not None and stop.is_set():
            break
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(i, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def steady_writes(
    base_url: str | Sequence[str],
    writer: TaskWriter,
    rate: float,
    count: int,
    max_in_flight: int = MAX_IN_FLIGHT,
    *,
    log: WriteLog | None = None,
    stop: asyncio.Event | None = None,
) -> WriteLog:
    """Send `count` writes at `rate` per second, open loop, and wait for every answer.

    Several base URLs are replicas of the API, given the writes in turn. With `stop`, sending
    ends early once it is set; `log` lets the caller watch the answers while they come (the
    fault scenarios hold a fault until enough of them did).
    """
    record = log if log is not None else WriteLog()
    urls = [base_url] if isinstance(base_url, str) else base_url
    client = Replicas(urls, size=max_in_flight)

    async def send(i: int, due: float) -> None:
        await writer.write(client, i, due, record)

    try:
        record.started = time.perf_counter()
        await open_loop(rate, count, send, started=record.started, stop=stop)
        record.finished = time.perf_counter()
    finally:
        await client.close()
    return record
